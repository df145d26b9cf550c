"""A room created after activation, in Chromium on the real worker and the sandbox tenant: the admin checks for
drift from the organisation's page, the new room appears as "new, not in any list", and one click places it through
the rooms step, which puts it in the room list; the page then offers it no more."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.factories import activated_tenant, state_of
from wizard.models import MembershipStatus, Room, StepStatus

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 60_000


def test_a_new_room_appears_and_is_placed_with_one_click(open_browser, make_user, make_sandbox, celery_worker):
    sandbox = make_sandbox()
    make_user("alice")
    tenant = activated_tenant(sandbox.info, "contoso", admin="alice")
    new = sandbox.control.add_mailbox("room", alias="boardroom-9")["userPrincipalName"].lower()

    session = open_browser()
    session.sign_in("alice")
    page = session.goto(f"/t/{tenant.slug}/activation/")
    expect(page.get_by_role("heading", name="Drift since activation")).to_be_visible()
    page.get_by_role("button", name="Check for drift now").click()
    offered = page.get_by_role("region", name="New rooms, not in any list")
    for _ in range(60):
        if offered.count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(offered).to_contain_text(new)
    expect(offered).to_contain_text("new, not in any list")
    screenshot(page, "drift-new-room-offered")

    offered.get_by_role("button", name="Place 1 new room").click()

    page.locator("#wizard .panel-ok, #wizard .panel-error").first.wait_for(timeout=TIMEOUT_MS)
    expect(page.locator("#wizard .panel-error")).to_have_count(0)
    assert state_of(tenant, "rooms").status == StepStatus.SUCCEEDED
    assert Room.objects.get(tenant=tenant, address=new).membership_status == MembershipStatus.MEMBER
    dn = state_of(tenant, "rooms").result["lists"][0]["dn"]
    members = sandbox.control.invoke("Get-DistributionGroupMember", Identity=dn)
    assert new in {member["PrimarySmtpAddress"].lower() for member in members}
    screenshot(page, "drift-new-room-placed")
    assert session.errors == []
    session.goto(f"/t/{tenant.slug}/activation/")
    expect(page.get_by_role("region", name="New rooms, not in any list")).to_have_count(0)
