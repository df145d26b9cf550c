"""Issue 11.5 in Chromium: after activation, the optional step "Reduce Onramp's access" shows what it hands back,
asks for a go-ahead, removes Onramp's certificate, names the clicks and PowerShell left to the admin, and re-verify
afterwards says it needs access granted again."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tenants.models import SecretKind
from tenants.secrets import has_secret
from tests.e2e.conftest import screenshot
from tests.factories import connect_to_sandbox, connected_tenant
from wizard import headless
from wizard.steps.exchange_online.connect import service as connect
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

pytestmark = pytest.mark.e2e


def test_reduce_access_in_the_browser(open_browser, make_user, make_sandbox, celery_worker):
    sandbox = make_sandbox(rooms=2, equipment=0, users=1)
    info = sandbox.info
    make_user("alice")
    tenant = connected_tenant(info, admin="alice")
    certificate = connect.certificate_credential(Path(info["client_certificate_file"]).read_text())
    connect_to_sandbox(tenant, info, actor="alice", client_certificate=certificate)
    activated = headless.run_steps(
        tenant,
        actor="alice",
        start="connect",
        inputs={"rooms": all_rooms_inputs(confirmed=True)},
        wait_on_microsoft=True,
        on_update=lambda state: None,
        timeout=120,
    )
    assert activated.finished and activated.ran[-1] == "activate"
    browser = open_browser()
    page = browser.sign_in("alice")

    browser.goto(f"/t/{tenant.slug}/steps/reduce_access/")
    expect(page.get_by_role("heading", name="Reduce Onramp's access", level=1)).to_be_visible()
    plan = page.locator("#hand-back-plan")
    expect(plan).to_contain_text("The certificate Onramp signs in with (removed from the app registration) — Onramp")
    expect(plan).to_contain_text("The Exchange Administrator role of Onramp's app — you do it")
    form = page.locator("form.run-form")
    form.get_by_role("button", name="Run this step").click()
    expect(page.get_by_text("Tick the box to confirm that Onramp may delete its own credential.")).to_be_visible()
    browser.errors[:] = [error for error in browser.errors if "status of 400" not in error]  # the form's answer
    assert has_secret(tenant, SecretKind.CLIENT_CERTIFICATE)

    form = page.locator("form.run-form")
    form.get_by_label("Hand back Onramp's access: verify and re-verify will need access granted again").check()
    form.get_by_role("button", name="Run this step").click()
    page.locator("#wizard .panel-ok, #wizard .panel-error").first.wait_for(timeout=90_000)
    expect(page.locator("#wizard .panel-error")).to_have_count(0)
    result = page.locator(".result")
    removed = f"Removed the certificate {info['certificate_thumbprint']} from the app registration"
    expect(result).to_contain_text(removed)
    expect(result).to_contain_text("Remove the Exchange Administrator role from Onramp's app")
    expect(result).to_contain_text("Remove-MgServicePrincipalAppRoleAssignment")
    expect(page.locator("#reverify-note")).to_contain_text("Re-verify needs access granted again")
    screenshot(page, "issue11-reduce-access")
    assert not has_secret(tenant, SecretKind.CLIENT_CERTIFICATE)

    browser.goto(f"/t/{tenant.slug}/steps/connect/")
    page.get_by_role("button", name="Re-verify").click()
    expect(page.locator("#wizard")).to_contain_text("Re-verify needs access granted again", timeout=60_000)
    screenshot(page, "issue11-reverify-after-hand-back")
