"""Signing in, the organisation list, the steps down the side, and another tenant's pages refused, in Chromium."""

import pytest
from playwright.sync_api import expect

from tenants.models import Profile
from tests.e2e.conftest import screenshot
from tests.factories import set_state
from wizard.actions import create_tenant
from wizard.models import StepStatus
from wizard.steps.registry import steps_for

pytestmark = pytest.mark.e2e


def test_admin_signs_in_sees_the_wizard_and_cannot_open_another_tenant(open_browser, make_user):
    alice = make_user("alice")
    mallory = make_user("mallory")
    create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    create_tenant(creator=mallory, display_name="Fabrikam", slug="fabrikam")

    browser = open_browser()
    page = browser.goto("/")
    expect(page).to_have_url(f"{browser.base_url}/login/?next=/")
    screenshot(page, "00-login")
    browser.sign_in("alice")
    expect(page.get_by_role("heading", name="Your organisations")).to_be_visible()
    expect(page.get_by_text("Fabrikam")).to_have_count(0)
    screenshot(page, "00-home")

    page.get_by_role("link", name="Contoso").click()
    expect(page.get_by_role("heading", name="Connect the tenant")).to_be_visible()
    steps = page.get_by_role("navigation", name="Setup steps")
    # Every step of the profile, then the activation summary.
    expect(steps.get_by_role("listitem")).to_have_count(len(steps_for(Profile.EXCHANGE_ONLINE)) + 1)
    expect(steps.get_by_role("link", name="Connect the tenant")).to_have_attribute("aria-current", "step")

    for path in ("/t/fabrikam/", "/t/fabrikam/steps/connect/", "/t/fabrikam/activation/", "/support/"):
        browser.expect_refusal(path)
        response = page.goto(browser.base_url + path)
        assert response.status == 404, path


def test_keyboard_reaches_the_run_button_and_copy_works(open_browser, make_user):
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED)
    browser = open_browser()
    browser.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = browser.sign_in("alice")
    browser.goto("/t/contoso/steps/org_customization/")
    page.get_by_text("The same in PowerShell").click()
    page.get_by_role("button", name="Copy").first.click()
    assert "Get-OrganizationConfig" in page.evaluate("navigator.clipboard.readText()")

    browser.goto("/t/contoso/steps/org_customization/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    reached = False
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Run this step":
            reached = True
            break
    assert reached, "Tab never reached the Run button"


def test_exchange_server_steps_show_the_script_to_run(open_browser, make_user):
    from wizard.steps.registry import steps_for

    alice = make_user("alice")
    create_tenant(creator=alice, display_name="On-prem Ltd", slug="onprem", profile="exchange_server")
    browser = open_browser()
    page = browser.sign_in("alice")
    for index, step in enumerate(steps_for("exchange_server")):
        browser.goto(f"/t/onprem/steps/{step.id}/")
        expect(page.get_by_role("heading", name=step.title, exact=True, level=1)).to_be_visible()
        if step.manual:
            expect(page.locator(".powershell pre")).to_be_visible()
        screenshot(page, f"exchange-server-step{index}-{step.id}")
