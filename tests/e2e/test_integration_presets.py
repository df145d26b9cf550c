"""The integration picker's known products (issue 23 point 3) in Chromium on a 360 px phone: the presets fit the
screen, and one is picked with the keyboard alone, without JavaScript's help (a plain form POST)."""

import pytest

from tenants.models import Tenant
from tests.e2e.conftest import NARROW, overflowing, screenshot
from tests.factories import connected_tenant
from wizard.steps.exchange_online.connect.presets import PRESETS

pytestmark = pytest.mark.e2e


def test_a_preset_is_picked_with_the_keyboard_on_a_phone(open_browser, make_user, make_sandbox):
    sandbox = make_sandbox()
    make_user("alice")
    tenant = connected_tenant(sandbox.info, admin="alice")
    browser = open_browser()
    browser.sign_in("alice")
    page = browser.goto(f"/t/{tenant.slug}/connect/integration")
    page.set_viewport_size(NARROW)
    assert overflowing(page) == []
    screenshot(page, "integration-presets")
    chosen = PRESETS[-1]
    button = page.get_by_role("button", name=f"Pick {chosen.name}")

    # Tab through the page until the preset's button has the focus, then press Enter: no pointer needed.
    for _ in range(60):
        page.keyboard.press("Tab")
        if button.evaluate("element => element === document.activeElement"):
            break
    else:
        pytest.fail(f"the button “Pick {chosen.name}” is never reached with Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/t/{tenant.slug}/steps/connect/")

    assert Tenant.objects.get(pk=tenant.pk).integration_app_id == chosen.app_id
