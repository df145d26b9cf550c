"""Changing a connected organisation's client secret in the browser (issue 15 point 1): a secret Microsoft refuses
is refused on the page, and the working one stays. The refusal comes from step 0 on the worker: the web request
never calls the authority (issue 27 point 1)."""

import pytest
from playwright.sync_api import expect

from tenants.models import SecretKind
from tenants.secrets import erase_secret, read_secret
from tests.e2e.conftest import screenshot
from tests.factories import connect_to_sandbox, run_inline
from wizard.actions import create_tenant
from wizard.models import StepStatus

pytestmark = pytest.mark.e2e


def test_a_wrong_new_secret_is_refused_and_the_old_one_keeps_working(
    open_browser, make_user, sandbox_tenant, celery_worker
):
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    connect_to_sandbox(tenant, sandbox_tenant.info, actor="setup")
    assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED

    browser = open_browser()
    page = browser.sign_in("alice")
    page.get_by_role("link", name="Contoso").click()
    steps = page.get_by_role("navigation", name="Setup steps")
    steps.get_by_role("link", name="Connect the tenant").click()
    page.get_by_text("Change the settings and run again").click()
    form = page.locator("form.run-form")
    form.get_by_label("Client secret (its Value)").fill("a-mistyped-secret")
    form.get_by_role("button", name="Run again").click()

    refusal = page.locator("#wizard .panel-error").filter(
        has_text="Microsoft refused the new credentials: AADSTS7000215"
    )
    refusal.wait_for(timeout=60_000)
    expect(refusal).to_contain_text("The credentials that worked before are kept")
    screenshot(page, "issue15-connect-wrong-new-secret")

    # No cached token can stand in for the secret: retrying signs in again with the one that was kept.
    erase_secret(tenant, SecretKind.TOKEN_CACHE)
    refusal.get_by_role("button", name="Retry").click()
    page.locator("#wizard .result").wait_for(timeout=60_000)
    expect(page.locator("#progress")).to_have_count(0)
    expect(page.locator("#wizard .panel-error")).to_have_count(0)
    expect(page.locator(".result")).to_contain_text("Works")
    expect(steps.get_by_role("link", name="Connect the tenant")).to_contain_text("Done")
    assert read_secret(tenant, SecretKind.CLIENT_SECRET) == sandbox_tenant.info["client_secret"]
