"""Real Chromium (Debian's) driven by Playwright against pytest-django's live server, with a real Celery worker
and the sandbox tenant. Screenshots go to tests/artifacts/ at 1280 and 360 px wide.

Every page of Onramp's that a test reaches is checked by axe-core (WCAG 2.0 and 2.1, A and AA; the axe.min.js that
axe-playwright-python ships, nothing fetched) when it loads and after each htmx swap, once per URL and page
structure in the whole session (tests/e2e/axe_hook.js); a test that reached a page with violations fails at its
teardown, listing each rule, element and URL. ONRAMP_AXE=0 turns the checks off (to time them)."""

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from django.contrib.auth import get_user_model

# Playwright's sync API runs an event loop in this thread; Django refuses database access from a thread with a
# running loop unless told that this is deliberate.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 360, "height": 780}
PASSWORD = "e2e-Password-1234"
# ONRAMP_AXE_TAGS=wcag2a,…,best-practice widens the checks for a look (the suite holds the pages to these four).
AXE_TAGS = os.environ.get("ONRAMP_AXE_TAGS", "wcag2a,wcag2aa,wcag21a,wcag21aa").split(",")
AXE_ENABLED = os.environ.get("ONRAMP_AXE", "1") != "0"
AXE_HOOK = (Path(__file__).resolve().parent / "axe_hook.js").read_text()


class AxeAudit:
    """axe-core runs of the whole session: which page states were checked (each one once), the violations found for
    the current test, and the time the checks took."""

    def __init__(self) -> None:
        self.checked: set[str] = set()
        self.pending: set[str] = set()
        self.violations: list[str] = []
        self.failures: list[str] = []
        self.runs = 0
        self.seconds = 0.0
        self.waited = 0.0

    def first_time(self, key: str) -> bool:
        if key in self.checked or key in self.pending:
            return False
        self.pending.add(key)
        return True

    def report(self, url: str, key: str, violations: list[dict] | None, ms: float, error: str = "") -> None:
        self.pending.discard(key)
        self.checked.add(key)
        self.runs += 1
        self.seconds += ms / 1000
        if violations is None:
            self.failures.append(f"axe could not check {url}: {error}")
            return
        for violation in violations:
            for target in violation["targets"]:
                self.violations.append(
                    f"{violation['id']} ({violation['impact']}) at {target} on {url}: {violation['help']}"
                    f" [{violation['summary'].splitlines()[-1].strip() if violation['summary'] else ''}]"
                )

    def install(self, context: BrowserContext, origin: str) -> None:
        config = json.dumps({"origin": origin, "tags": AXE_TAGS})
        context.expose_function("__axeFirstTime", self.first_time)
        context.expose_function("__axeReport", self.report)
        context.add_init_script(AXE_SCRIPT + "\n" + AXE_HOOK.replace("__AXE_CONFIG__", config))

    def finish(self, pages: list[Page]) -> list[str]:
        """Wait for the checks still running in open pages; the violations this test found (then forgets them)."""
        for page in pages:
            # A page closing or navigating away: its state is checked on another visit.
            with contextlib.suppress(Exception):
                page.evaluate("() => window.__axeIdle ? window.__axeIdle() : null")
        # A check cut short by a navigation was never reported: a later visit to that state checks it.
        self.pending.clear()
        found, self.violations = sorted(set(self.violations)), []
        self.failures = []
        return found


AXE = AxeAudit()


def pytest_terminal_summary(terminalreporter) -> None:
    if AXE.runs:
        terminalreporter.write_line(
            f"axe-core: {AXE.runs} page states checked (WCAG 2.1 A/AA), {AXE.seconds:.1f} s of checks in the pages,"
            f" {AXE.waited:.1f} s waited for them at teardown"
        )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class BrowserSession:
    """One signed-in person in their own browser context, collecting the page's console errors."""

    def __init__(self, context: BrowserContext, base_url: str) -> None:
        self.context = context
        self.base_url = base_url
        self.errors: list[str] = []
        self.expected_refusals: set[str] = set()
        self.page = self.new_page()

    def new_page(self) -> Page:
        page = self.context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        # Chromium reports a page answered with an error status as a console error, delivered asynchronously: a
        # refusal the test asked for is declared beforehand, so its message is recognised whenever it arrives.
        if message.text.startswith("Failed to load resource") and urlsplit(message.location["url"]).path in (
            self.expected_refusals
        ):
            return
        self.errors.append(f"console: {message.text}")

    def expect_refusal(self, path: str) -> None:
        """Declare that loading `path` is answered with an error status on purpose (a 404, 403 or 410 under test)."""
        self.expected_refusals.add(urlsplit(path).path)

    def goto(self, path: str) -> Page:
        self.page.goto(self.base_url + path)
        return self.page

    def sign_in(self, username: str, password: str = PASSWORD) -> Page:
        page = self.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page


@pytest.fixture
def open_browser(browser: Browser, live_server, transactional_db) -> Iterator[Callable[[], BrowserSession]]:
    """A factory of fresh browser contexts (a new person, or the same person after closing the browser). Set up
    after the test database, so its pages (which keep polling) are closed before the test's data is flushed."""
    sessions: list[BrowserSession] = []

    def factory() -> BrowserSession:
        # The sandbox's HTTPS uses a throwaway CA that only Onramp's own client trusts. The browser asks for English
        # whatever the machine's locale: the pages follow Accept-Language, and these tests read English text.
        context = browser.new_context(viewport=WIDE, ignore_https_errors=True, locale="en-GB")
        context.set_default_timeout(15_000)
        if AXE_ENABLED:
            AXE.install(context, live_server.url)
        session = BrowserSession(context, live_server.url)
        sessions.append(session)
        return session

    yield factory
    started = time.monotonic()
    violations = AXE.finish([page for session in sessions for page in session.context.pages]) if AXE_ENABLED else []
    AXE.waited += time.monotonic() - started
    errors = [error for session in sessions for error in session.errors]
    for session in sessions:
        session.context.close()
    assert errors == [], "the pages logged errors"
    assert violations == [], "axe-core found WCAG 2.1 A/AA violations:\n" + "\n".join(violations)


@pytest.fixture
def make_user(transactional_db) -> Callable[..., object]:
    def factory(username: str, **fields) -> object:
        return get_user_model().objects.create_user(username, password=PASSWORD, **fields)

    return factory


def axe_idle(page: Page) -> None:
    """Let a running axe check finish: it can move things on a long page for a moment, which a layout check or a
    screenshot must not see."""
    page.evaluate("() => window.__axeIdle ? window.__axeIdle() : null")


def screenshot(page: Page, name: str) -> list[Path]:
    """The page as a person sees it, wide and on a phone: tests/artifacts/<name>-1280.png and -360.png."""
    axe_idle(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^a-z0-9_-]+", "-", name.lower())
    original = page.viewport_size
    paths = []
    for size in (WIDE, NARROW):
        page.set_viewport_size(size)
        path = ARTIFACTS / f"{safe}-{size['width']}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size(original or WIDE)
    return paths


# Every element under `root` that ends beyond the card (or panel, or section) holding it, or whose own text is cut
# (a pill, chip, button or summary item narrower than its content). Scrolling regions (.table-wrap, pre) may be
# wider inside; the region itself must fit. The page itself must not scroll sideways.
OVERFLOWING = """
(root) => {
  const found = [];
  if (document.documentElement.scrollWidth > window.innerWidth) found.push('the page scrolls sideways');
  for (const el of document.querySelectorAll(`${root} *`)) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || el.closest('.table-wrap, pre') && !el.matches('.table-wrap, pre')) continue;
    const card = el.parentElement.closest('.card, .panel, .result, section, .steps, .facts, .timeline');
    if (!card) continue;
    const edge = card.getBoundingClientRect();
    const name = `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} "${el.textContent.trim().slice(0, 40)}"`;
    if (box.right > edge.right + 0.5 || box.left < edge.left - 0.5) found.push(`leaves its card: ${name}`);
    if (el.matches('.pill, .chip, button, .button, .tally li, .filters li') && el.scrollWidth > el.clientWidth + 1)
      found.push(`text cut: ${name}`);
  }
  return found;
}
"""


def overflowing(page: Page, root: str = "main") -> list[str]:
    """What sticks out at the page's current width (OVERFLOWING): [] when everything fits."""
    axe_idle(page)
    return page.evaluate(OVERFLOWING, root)
