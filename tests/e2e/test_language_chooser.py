"""Issue 28 point 8 in Chromium: the footer's language chooser works with the keyboard alone and without
JavaScript's help (a form), the choice holds across sign-in and pages, and the German pages pass axe-core like the
English ones (axe-core, which the suite injects into every page, run on each German page, its lang attribute
included)."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import AXE_ENABLED, AXE_TAGS, PASSWORD
from tests.e2e.test_accessibility import focused, press_on, tab_to
from wizard.actions import create_tenant

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not AXE_ENABLED, reason="ONRAMP_AXE=0: axe-core is not injected into the pages"),
]


def axe_violations(page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now, run here rather than left to the suite's hook,
    which checks a page structure once (the German sign-in page has the English one's) and may be cut short by the
    next navigation."""
    page.wait_for_load_state("load")
    return page.evaluate(
        """async (tags) => {
            const run = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
            return run.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
        }""",
        AXE_TAGS,
    )


def test_the_chooser_switches_to_german_with_the_keyboard_and_the_choice_holds(open_browser, make_user):
    alice = make_user("alice")
    create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    browser = open_browser()
    page = browser.goto("/login/")
    expect(page.locator("html")).to_have_attribute("lang", "en-gb")

    # The browser asks for English (en-GB); the person chooses German: Tab to the chooser, Down, Tab, Enter.
    tab_to(page, r"^select Language")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Language")).to_have_value("de")
    page.keyboard.press("Tab")
    assert focused(page) == "button Change language"
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Bei Onramp anmelden")).to_be_visible()
    assert axe_violations(page) == []

    # Signing in keeps it (the cookie), and so do the pages after it.
    page.get_by_label("Benutzername").fill("alice")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden", exact=True).click()
    expect(page.get_by_role("heading", name="Ihre Organisationen")).to_be_visible()
    assert axe_violations(page) == []
    browser.goto("/t/contoso/steps/connect/")
    expect(page.get_by_role("heading", name="Mandanten verbinden")).to_be_visible()
    expect(page.locator(".eyebrow")).to_have_text("Schritt 0 von 8")
    expect(page.get_by_label("Sprache")).to_have_value("de")
    assert axe_violations(page) == []

    # And back to English the same way.
    press_on(page, r"^select Sprache", "ArrowUp")
    press_on(page, r"^button Sprache wechseln$")
    expect(page.locator("html")).to_have_attribute("lang", "en-gb")
    expect(page.get_by_role("heading", name="Connect the tenant")).to_be_visible()
