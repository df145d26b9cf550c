"""Issue 11.4 in Chromium: step 0 connects with a certificate's private key instead of a client secret; a file that
is no private key is refused on the form, and a certificate the app does not hold is refused by Microsoft with the
fix."""

import pytest
from playwright.sync_api import expect

from sandbox.tls import app_certificate
from tenants.models import SecretKind
from tenants.secrets import has_secret
from tests.e2e.conftest import screenshot
from wizard.actions import create_tenant

pytestmark = pytest.mark.e2e


def _fill(form, info, key_file: str) -> None:
    form.get_by_label("Tenant ID").fill(info["tenant_id"])
    form.get_by_label("Application (client) ID").fill(info["client_id"])
    form.get_by_label("Or a certificate: its private key (PEM)").set_input_files(key_file)
    form.get_by_label("Integration's application ID").fill(info["integration_app_id"])
    form.get_by_label("Cloud").select_option(label="Explicit endpoints")
    form.get_by_label("Authority URL").fill(info["authority"])
    form.get_by_label("Microsoft Graph URL").fill(info["graph_url"])
    form.get_by_label("Exchange admin API URL").fill(info["exchange_admin_url"])
    form.get_by_label("EWS URL").fill(info["ews_url"])
    form.get_by_label("CA bundle (PEM)").set_input_files(info["ca_bundle"])


def test_connect_with_a_certificate_and_a_wrong_one_refused(
    open_browser, make_user, sandbox_tenant, celery_worker, tmp_path
):
    info = sandbox_tenant.info
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    stranger, thumbprint, _ = app_certificate(tmp_path / "stranger.pem", "Stranger")
    browser = open_browser()
    page = browser.sign_in("alice")
    browser.goto("/t/contoso/steps/connect/")
    expect(page.locator("#wizard")).to_contain_text("or upload the private key of a certificate the app holds")

    form = page.locator("form.run-form")
    _fill(form, info, info["ca_bundle"])  # a certificate file, but no private key in it
    form.get_by_role("button", name="Run this step").click()
    expect(page.get_by_text("This is not a PEM private key")).to_be_visible()
    assert not has_secret(tenant, SecretKind.CLIENT_CERTIFICATE)
    browser.errors[:] = [error for error in browser.errors if "status of 400" not in error]  # the form's answer

    form = page.locator("form.run-form")
    _fill(form, info, str(stranger))
    form.get_by_role("button", name="Run this step").click()
    error = page.locator("#wizard .panel-error")
    error.wait_for(timeout=90_000)
    expect(error).to_contain_text("AADSTS700027")
    expect(error).to_contain_text(thumbprint)
    expect(error).to_contain_text("Certificates & secrets")
    screenshot(page, "issue11-certificate-refused")

    form = page.locator("form.run-form")
    _fill(form, info, info["client_certificate_file"])
    form.get_by_role("button", name="Run with these values").click()
    page.locator("#wizard .panel-ok, #wizard .panel-error").first.wait_for(timeout=90_000)
    expect(page.locator("#wizard .panel-error")).to_have_count(0)
    expect(page.locator(".result")).to_contain_text("Exchange admin access")
    screenshot(page, "issue11-certificate-connected")
    assert has_secret(tenant, SecretKind.CLIENT_CERTIFICATE) and not has_secret(tenant, SecretKind.CLIENT_SECRET)
    expect(page.locator("body")).not_to_contain_text("PRIVATE KEY")
