"""A second organisation on an already connected Microsoft tenant (issues 15.2, 14.2), seen in Chromium: step 0
warns without naming an organisation the admin may not see, waits for the tick box, then connects."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.factories import connect_to_sandbox, run_inline
from wizard.actions import create_tenant
from wizard.models import AuditEvent, StepStatus

pytestmark = pytest.mark.e2e


def test_a_second_organisation_connects_only_after_ticking_share(
    open_browser, make_user, sandbox_tenant, celery_worker
):
    first = create_tenant(creator=make_user("alice"), display_name="Contoso Facilities", slug="contoso")
    connect_to_sandbox(first, sandbox_tenant.info, actor="setup")
    assert run_inline(first, "connect").status == StepStatus.SUCCEEDED
    second = create_tenant(creator=make_user("bob"), display_name="Contoso EMEA", slug="contoso-emea")
    connect_to_sandbox(second, sandbox_tenant.info, actor="setup")

    page = open_browser().sign_in("bob")
    page.get_by_role("link", name="Contoso EMEA").click()
    page.locator("form.run-form").get_by_role("button", name="Run this step").click()

    warning = page.get_by_role("alert").filter(has_text="Another organisation uses this Microsoft tenant")
    expect(warning).to_contain_text("1 Onramp organisation you cannot see", timeout=60_000)
    expect(warning).not_to_contain_text("Contoso Facilities")
    steps = page.get_by_role("navigation", name="Setup steps")
    expect(steps.get_by_role("link", name="Connect the tenant")).to_contain_text("Needs your input")
    screenshot(page, "issue15-connect-shared-microsoft-tenant")

    form = page.locator("form.run-form")
    form.get_by_label("I know; share this Microsoft tenant").check()
    form.get_by_role("button", name="Run this step").click()
    page.locator("#wizard .panel-ok, #wizard .panel-error").first.wait_for(timeout=60_000)
    expect(page.locator("#wizard .panel-error")).to_have_count(0)
    expect(page.locator(".result")).to_contain_text("Works")
    assert AuditEvent.objects.filter(tenant=second, action="share_microsoft_tenant", actor="bob").count() == 1
