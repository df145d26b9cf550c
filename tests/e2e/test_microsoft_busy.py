"""A step under throttling says so (issue 15.13), seen in Chromium: the progress panel names the HTTP status, the wait
Microsoft asked for and the attempt, and the timeline has one entry for the streak."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.factories import connect_to_sandbox
from wizard.actions import create_tenant

pytestmark = pytest.mark.e2e


def test_the_progress_panel_and_the_timeline_say_microsoft_is_busy(
    open_browser, make_user, sandbox_tenant, celery_worker
):
    alice = make_user("alice")
    make_user("sam", is_staff=True)
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    connect_to_sandbox(tenant, sandbox_tenant.info, actor="setup")
    sandbox_tenant.control.set_knobs(throttle_fraction=1.0)  # every call answers 429 with Retry-After: 1

    browser = open_browser()
    page = browser.sign_in("alice")
    page.get_by_role("link", name="Contoso").click()
    page.locator("form.run-form").get_by_role("button", name="Run this step").click()

    progress = page.locator("#progress")
    expect(progress).to_contain_text("Microsoft is busy (HTTP 429): waiting 1 s as it asked, attempt", timeout=30_000)
    screenshot(page, "issue15-progress-microsoft-busy")
    sandbox_tenant.control.set_knobs(throttle_fraction=0.0)
    page.locator("#wizard .panel-ok, #wizard .panel-error").first.wait_for(timeout=60_000)
    expect(page.locator("#wizard .panel-error")).to_have_count(0)

    support = open_browser()
    console = support.sign_in("sam")
    support.goto("/support/t/contoso/")
    busy = console.locator(".timeline li").filter(has_text="microsoft_busy")
    expect(busy).to_have_count(1)
    expect(busy).to_contain_text("Microsoft is busy (HTTP 429): waiting 1 s as it asked, attempt 2")
