"""Chromium, issue 23: connected with Microsoft, Onramp acts with the signed-in administrator's own rights, so before
anything is bound or written it names each directory role the person lacks for what the steps do. A Privileged Role
Administrator may consent for the organisation but neither change Exchange Online nor create users: told so, with
the roles that would do, and nothing is bound or written."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.factories import on_sandbox_cloud
from wizard.actions import create_tenant
from wizard.admin_roles import PRIVILEGED_ROLE_ADMINISTRATOR

pytestmark = pytest.mark.e2e


def test_a_person_without_an_exchange_role_is_told_which_roles_are_missing_before_any_write(
    open_browser, make_user, make_sandbox, settings
):
    sandbox = make_sandbox(rooms=5)
    info = sandbox.info
    tenant = on_sandbox_cloud(create_tenant(creator=make_user("alice"), display_name="Contoso", slug="contoso"), info)
    settings.ONRAMP_CONNECTOR_CLIENT_ID = info["onramp_app_id"]
    settings.ONRAMP_CONNECTOR_CLIENT_SECRET = info["onramp_app_secret"]
    sandbox.control.set_directory_roles("user-002@contoso.onmicrosoft.com", [PRIVILEGED_ROLE_ADMINISTRATOR])
    sandbox.control.reset_calls()

    page = open_browser().sign_in("alice")
    page.get_by_role("link", name="Contoso").click()
    consent = page.locator(".consent")
    consent.get_by_label("Integration's application ID").fill(info["integration_app_id"])
    consent.get_by_role("button", name="Connect with Microsoft").click()
    page.get_by_role("button", name="User 002", exact=True).click()

    refusal = page.locator(".flash-error")
    expect(refusal).to_contain_text("holds Privileged Role Administrator")
    expect(refusal).to_contain_text("to change Exchange Online, Global Administrator or Exchange Administrator")
    expect(refusal).to_contain_text(
        "to create and license the service account, Global Administrator or User Administrator"
    )
    screenshot(page, "connect-roles-missing")
    tenant.refresh_from_db()
    assert not tenant.binding_proof and not tenant.microsoft_tenant_id, "bound without the roles the steps need"
    assert sandbox.control.calls()["writes"] == 0
