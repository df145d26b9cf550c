"""People in Chromium, signing in with Microsoft at the sandbox tenant: an Exchange administrator lands on their
organisation; a plain user of that tenant is refused; an admin invites a colleague who accepts and finishes a step;
a viewer sees progress without a Run button; a support viewer cannot retry and a support operator can."""

import re

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import Page, expect

from tenants.models import Membership, Role
from tests.e2e.conftest import BrowserSession, screenshot
from tests.e2e.test_walk import wait_until_done
from tests.factories import bound_by_proof, connect_to_sandbox, set_state
from tests.people.conftest import sandbox_sign_in_settings
from wizard.actions import create_tenant
from wizard.models import StepStatus

pytestmark = pytest.mark.e2e


@pytest.fixture
def contoso(make_user, make_sandbox, settings):
    """Contoso, set up by alice (a password account) and bound to the sandbox's Microsoft tenant, whose people
    sign in to Onramp with Microsoft."""
    sandbox = make_sandbox()
    sandbox_sign_in_settings(settings, sandbox.info)
    tenant = create_tenant(creator=make_user("alice"), display_name="Contoso", slug="contoso")
    connect_to_sandbox(tenant, sandbox.info, actor="setup")
    return bound_by_proof(tenant, sandbox.info["tenant_id"])


def sign_in_with_microsoft(browser: BrowserSession, display_name: str, start: str = "/login/") -> Page:
    page = browser.goto(start)
    page.get_by_role("link", name=re.compile("Sign in with Microsoft")).click()
    expect(page.get_by_role("heading", name="Sign in to your account")).to_be_visible()
    page.get_by_role("button", name=display_name, exact=True).click()
    page.wait_for_load_state()
    return page


def test_an_exchange_administrator_signs_in_with_microsoft_and_lands_on_their_organisation(open_browser, contoso):
    browser = open_browser()
    page = browser.goto("/login/")
    screenshot(page, "people-login-with-microsoft")
    page = sign_in_with_microsoft(browser, "User 001")
    expect(page).to_have_url(re.compile(r"/t/contoso/"))
    expect(page.get_by_role("heading", name="Connect the tenant", level=1)).to_be_visible()
    expect(page.locator(".who")).to_have_text("user-001@contoso.onmicrosoft.com")
    screenshot(page, "people-exchange-admin-landed")
    members = browser.goto("/t/contoso/members/")
    expect(members.get_by_role("row").filter(has_text="user-001@contoso.onmicrosoft.com")).to_contain_text("Admin")


def test_a_plain_user_of_the_tenant_is_refused_with_a_clear_page(open_browser, contoso):
    browser = open_browser()
    browser.expect_refusal(reverse("people:microsoft_callback"))
    page = sign_in_with_microsoft(browser, "User 002")
    expect(page.get_by_role("heading", name="You are not signed in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("not a member of Contoso")
    expect(page.get_by_role("alert")).to_contain_text("needs an invitation")
    screenshot(page, "people-plain-user-refused")
    response = page.goto(browser.base_url + "/t/contoso/")
    assert "/login/" in response.url


def test_an_admin_invites_a_colleague_who_accepts_and_finishes_a_step(open_browser, contoso, celery_worker):
    admin = open_browser()
    page = admin.sign_in("alice")
    admin.goto("/t/contoso/")
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Colleague's email address").fill("user-002@contoso.onmicrosoft.com")
    page.get_by_label("Admin").check()
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent to user-002@contoso.onmicrosoft.com")).to_be_visible()
    screenshot(page, "people-members-invited")
    link = page.get_by_label("Invitation link for user-002@contoso.onmicrosoft.com").input_value()
    path = link.split(admin.base_url, 1)[1]

    colleague = open_browser()
    invitation = colleague.goto(path)
    expect(invitation.get_by_role("heading", name="Join Contoso")).to_be_visible()
    screenshot(invitation, "people-invitation")
    page = sign_in_with_microsoft(colleague, "User 002", start=path)
    # Back on the invitation: joining is the colleague's own click, never a side effect of signing in.
    expect(page.get_by_role("heading", name="Join Contoso")).to_be_visible()
    page.get_by_role("button", name="Accept and join").click()
    expect(page.get_by_role("heading", name="Connect the tenant", level=1)).to_be_visible()
    page.get_by_role("button", name="Run this step").click()
    wait_until_done(page, "Connect the tenant")
    screenshot(page, "people-colleague-finished-step0")
    assert Membership.objects.get(user__microsoft_identity__username="user-002@contoso.onmicrosoft.com").role == "admin"
    colleague.expect_refusal(path)
    used = colleague.goto(path)
    expect(used.get_by_text("already been used")).to_be_visible()


def test_a_viewer_sees_progress_but_no_run_button(open_browser, contoso, make_user):
    Membership.objects.create(user=make_user("vera"), tenant=contoso, role=Role.VIEWER)
    set_state(contoso, "connect", status=StepStatus.SUCCEEDED, result={"domain": "contoso.onmicrosoft.com"})
    browser = open_browser()
    page = browser.sign_in("vera")
    browser.goto("/t/contoso/steps/org_customization/")
    expect(page.get_by_role("heading", name="Organisation customisation", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Run this step")).to_have_count(0)
    expect(page.get_by_text("only the organisation's admins can run it")).to_be_visible()
    steps = page.get_by_role("navigation", name="Setup steps")
    expect(steps.get_by_role("link", name=re.compile("Connect the tenant"))).to_contain_text("Done")
    screenshot(page, "people-viewer-step")


def test_a_support_viewer_cannot_retry_and_a_support_operator_can(open_browser, contoso, make_user, celery_worker):
    set_state(contoso, "connect", status=StepStatus.FAILED, error_code="Boom", error_message="It failed.")
    make_user("sven")
    make_user("olga")
    call_command("support_user", "sven", "--role", "support_viewer")
    call_command("support_user", "olga", "--role", "support_operator")

    viewer = open_browser()
    page = viewer.sign_in("sven")
    viewer.goto("/support/t/contoso/")
    expect(page.get_by_text("It failed.")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Retry"))).to_have_count(0)
    screenshot(page, "people-support-viewer")

    operator = open_browser()
    page = operator.sign_in("olga")
    operator.goto("/support/t/contoso/")
    page.get_by_role("button", name="Retry Connect the tenant").click()
    row = page.locator("#state-connect")
    expect(row).not_to_contain_text("It failed.", timeout=60_000)
    screenshot(page, "people-support-operator-retried")
