"""Chromium, issue 25 point 1: the sign-in app has no groupMembershipClaims (a new app registration's default), so
Microsoft's ID token names no directory role; a Global Administrator still joins their organisation as admin:
Onramp reads the role through Microsoft Graph, after the administrator consents to the scope that reads it."""

import re

import pytest
from playwright.sync_api import expect

from tenants.models import Membership, Role
from tests.e2e.conftest import screenshot
from tests.e2e.test_people import sign_in_with_microsoft
from tests.factories import bound_by_proof, connect_to_sandbox
from tests.people.conftest import sandbox_sign_in_settings
from wizard.actions import create_tenant

pytestmark = pytest.mark.e2e


@pytest.fixture
def contoso_without_wids(make_user, make_sandbox, settings):
    sandbox = make_sandbox(group_membership_claims="None")
    sandbox_sign_in_settings(settings, sandbox.info)
    tenant = create_tenant(creator=make_user("alice"), display_name="Contoso", slug="contoso")
    connect_to_sandbox(tenant, sandbox.info, actor="setup")
    return bound_by_proof(tenant, sandbox.info["tenant_id"])


def test_a_global_administrator_joins_their_organisation_as_admin_without_wids(open_browser, contoso_without_wids):
    browser = open_browser()
    page = sign_in_with_microsoft(browser, "MOD Administrator")

    # Microsoft signs the same person in again and asks the administrator for the scope that reads roles.
    expect(page.get_by_role("heading", name="Permissions requested")).to_be_visible()
    expect(page.get_by_text("RoleManagement.Read.Directory")).to_be_visible()
    page.get_by_role("button", name="Accept").click()
    page.wait_for_load_state()

    expect(page).to_have_url(re.compile(r"/t/contoso/"))
    expect(page.get_by_text("Microsoft says you are Global Administrator")).to_be_visible()
    expect(page.locator(".who")).to_have_text("admin@contoso.onmicrosoft.com")
    screenshot(page, "people-global-admin-joined-without-wids")
    membership = Membership.objects.get(
        tenant=contoso_without_wids, user__microsoft_identity__username="admin@contoso.onmicrosoft.com"
    )
    assert membership.role == Role.ADMIN
