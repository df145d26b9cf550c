"""Issue 28 point 7 in Chromium: a new organisation walked from sign-in to activation with the keyboard alone (Tab,
Shift+Tab, Enter, Space and typing; never a click), and what htmx swaps do for keyboard and screen reader users:
focus lands on the step's heading (or its error) when the step finishes, and a step's state is announced through
one polite live region that polls never replace. Every page these tests reach is also checked by axe-core
(tests/e2e/conftest.py)."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tenants.models import Tenant
from tests.e2e.conftest import PASSWORD
from tests.factories import set_state
from wizard.actions import create_tenant
from wizard.models import StepState, StepStatus

pytestmark = pytest.mark.e2e

STEP_TIMEOUT_MS = 90_000

# The focused element as "tag name": its aria-label, else its label, else its text or value.
FOCUSED = """
() => {
  const e = document.activeElement;
  if (!e || e === document.body) return "";
  let name = e.getAttribute("aria-label");
  if (!name && e.labels && e.labels.length) name = e.labels[0].innerText;
  if (!name) name = e.innerText || e.value || "";
  return `${e.tagName.toLowerCase()} ${name.replace(/\\s+/g, " ").trim()}`;
}
"""


def focused(page: Page) -> str:
    return page.evaluate(FOCUSED)


def tab_to(page: Page, pattern: str, *, backwards: bool = False, presses: int = 120) -> None:
    """Press Tab (or Shift+Tab) until the focused element's "tag name" matches `pattern`."""
    seen = []
    for _ in range(presses):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        now = focused(page)
        if re.search(pattern, now):
            return
        seen.append(now)
    pytest.fail(f"the keyboard never reached {pattern!r}; it went through {seen}")


def type_into(page: Page, pattern: str, text: str) -> None:
    tab_to(page, pattern)
    page.keyboard.type(text)


def press_on(page: Page, pattern: str, key: str = "Enter", *, backwards: bool = False) -> None:
    tab_to(page, pattern, backwards=backwards)
    page.keyboard.press(key)


def wait_for_the_step(page: Page, title: str) -> None:
    """The step stops; the wizard area swaps in and puts the focus on the step's heading."""
    page.locator("#wizard .panel-ok, #wizard .panel-error, #wizard .preview").first.wait_for(timeout=STEP_TIMEOUT_MS)
    error = page.locator("#wizard .panel-error")
    assert error.count() == 0, f"{title} failed: {error.first.inner_text()}"
    expect(page.locator("#step-title")).to_have_text(title)


def run_and_next(page: Page, title: str, next_title: str | None) -> None:
    expect(page.get_by_role("heading", name=title, exact=True, level=1)).to_be_visible()
    press_on(page, r"^button Run this step$")
    wait_for_the_step(page, title)
    expect(page.locator("#step-title")).to_be_focused()
    if next_title:
        press_on(page, rf"^a Next: {re.escape(next_title)} →$")


def test_a_new_organisation_is_activated_with_the_keyboard_alone(
    open_browser, make_user, sandbox_tenant, celery_worker
):
    info = sandbox_tenant.info
    make_user("alice")
    browser = open_browser()
    page = browser.goto("/login/")

    # Sign in: the username field has the focus already.
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your organisations")).to_be_visible()

    # The skip link comes first, then the organisation is created.
    page.keyboard.press("Tab")
    assert focused(page) == "a Skip to content"
    press_on(page, r"^a Set up an organisation$")
    expect(page.get_by_role("heading", name="Set up an organisation")).to_be_visible()
    type_into(page, r"^input Organisation name", "Keyboard Ltd")
    type_into(page, r"^input Short name", "keyboard-ltd")
    press_on(page, r"^button Create and start$")

    # Step 0 with the organisation's own app registration and the sandbox's explicit endpoints.
    expect(page.get_by_role("heading", name="Connect the tenant", level=1)).to_be_visible()
    type_into(page, r"^input Tenant ID", info["tenant_id"])
    type_into(page, r"^input Application \(client\) ID", info["client_id"])
    type_into(page, r"^input Client secret \(its Value\)", info["client_secret"])
    type_into(page, r"^input Integration's application ID", info["integration_app_id"])
    tab_to(page, r"^select Cloud")
    page.keyboard.type("Explicit")  # a closed select picks the option its first letters name
    expect(page.get_by_label("Cloud")).to_have_value("custom")
    expect(page.locator("form.run-form details.advanced")).to_have_attribute("open", "")
    type_into(page, r"^input Authority URL", info["authority"])
    type_into(page, r"^input Microsoft Graph URL", info["graph_url"])
    type_into(page, r"^input Exchange admin API URL", info["exchange_admin_url"])
    type_into(page, r"^input EWS URL", info["ews_url"])
    tab_to(page, r"^input CA bundle \(PEM\)")
    with page.expect_file_chooser() as chooser:  # the system's file dialog, opened from the keyboard
        page.keyboard.press("Space")
    chooser.value.set_files(info["ca_bundle"])
    run_and_next(page, "Connect the tenant", "Organisation customisation")

    run_and_next(page, "Organisation customisation", "Service account")
    # The password swaps in where its button was: the focus goes to its heading, and the copy button is next.
    run_and_next(page, "Service account", None)
    press_on(page, r"^button Show the password once$")
    expect(page.locator("#password-title")).to_be_focused()
    page.keyboard.press("Tab")
    assert focused(page) == "button Copy the password"
    press_on(page, r"^a Next: Room list →$")
    run_and_next(page, "Room list", "Rooms")

    # Rooms: every room mailbox (the default choice), previewed, then confirmed.
    expect(page.get_by_role("heading", name="Rooms", exact=True, level=1)).to_be_visible()
    press_on(page, r"^button Run this step$")
    wait_for_the_step(page, "Rooms")
    press_on(page, r"^button Confirm and add \d+ rooms$")
    wait_for_the_step(page, "Rooms")
    expect(page.locator("#wizard .panel-ok")).to_be_visible()
    # A filter swaps the rooms table, its own links with it: the focus stays on the filter now chosen.
    press_on(page, r"^a Fail \d+$")
    expect(page.locator("#rooms-table")).to_contain_text("No rooms match this filter")
    expect(page.locator("#rooms-table a[aria-current]")).to_be_focused()
    assert re.match(r"^a Fail \d+$", focused(page)), focused(page)
    press_on(page, r"^a Next: Scoped access →$")

    run_and_next(page, "Scoped access", "Verify")
    run_and_next(page, "Verify", "Activate")
    run_and_next(page, "Activate", None)
    press_on(page, r"^a Activation summary →$")
    expect(page.get_by_role("heading", name="Activation summary")).to_be_visible()

    tenant = Tenant.objects.get(slug="keyboard-ltd")
    assert tenant.status == "active", "the organisation was not activated"
    assert StepState.objects.filter(tenant=tenant, step_id="activate", status=StepStatus.SUCCEEDED).exists()


def test_swaps_move_the_focus_and_announce_only_changes_of_state(open_browser, make_user):
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    set_state(tenant, "org_customization", status=StepStatus.RUNNING, progress_percent=10, progress_message="Reading")
    browser = open_browser()
    page = browser.sign_in("alice")
    browser.goto("/t/contoso/steps/org_customization/")

    live = page.locator("#live-status")
    expect(live).to_have_attribute("aria-live", "polite")
    expect(live).to_have_attribute("role", "status")
    expect(page.locator("#progress")).to_be_visible()
    expect(page.locator("#progress")).not_to_have_attribute("aria-live", re.compile(".*"))
    # Count the polls, and every change the live region goes through.
    page.evaluate(
        """() => {
          window.polls = 0;
          window.liveNode = document.getElementById("live-status");
          window.liveChanges = 0;
          new MutationObserver((records) => { window.liveChanges += records.length; })
            .observe(window.liveNode, { childList: true, characterData: true, subtree: true, attributes: true });
          document.addEventListener("htmx:afterSettle", (e) => { if (e.detail.elt.id === "progress") window.polls++; });
        }"""
    )

    # The panel is replaced at each poll, with new numbers: nothing is said, the live region is untouched.
    set_state(tenant, "org_customization", progress_percent=40, progress_message="Still reading")
    page.wait_for_function("() => window.polls >= 3", timeout=10_000)
    expect(page.locator("#progress")).to_contain_text("40%")
    assert page.evaluate("window.liveChanges") == 0
    assert page.evaluate("document.getElementById('live-status') === window.liveNode")
    expect(live).to_have_text("")

    # A change of state is said once, however many polls follow.
    set_state(
        tenant,
        "org_customization",
        status=StepStatus.WAITING,
        waiting_for="Exchange to finish customising",
        waiting_since=timezone.now(),
    )
    expect(live).to_have_text("Organisation customisation: Waiting on Microsoft (Exchange to finish customising)")
    page.evaluate("window.polls = 0")
    changes = page.evaluate("window.liveChanges")
    page.wait_for_function("() => window.polls >= 3", timeout=10_000)
    assert page.evaluate("window.liveChanges") == changes, "the live region changed while the state did not"

    # The step stops: the whole step area swaps in, focus lands on its heading, and "Done" is said.
    set_state(tenant, "org_customization", status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    expect(page.locator("#wizard .panel-ok")).to_be_visible(timeout=10_000)
    expect(page.locator("#step-title")).to_be_focused()
    expect(live).to_have_text("Organisation customisation: Done")
    assert page.evaluate("document.getElementById('live-status') === window.liveNode")

    # A step that fails puts the focus on its error instead.
    set_state(tenant, "org_customization", status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    set_state(tenant, "service_account", status=StepStatus.RUNNING, progress_message="Creating")
    browser.goto("/t/contoso/steps/service_account/")
    expect(page.locator("#progress")).to_be_visible()
    set_state(
        tenant,
        "service_account",
        status=StepStatus.FAILED,
        error_code="boom",
        error_message="Microsoft said no.",
        finished_at=timezone.now(),
    )
    error_heading = page.locator("#wizard .panel-error h2")
    expect(error_heading).to_be_visible(timeout=10_000)
    expect(error_heading).to_be_focused()
    expect(live).to_have_text("Service account: Failed")
