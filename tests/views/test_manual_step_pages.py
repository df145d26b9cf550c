"""What the Exchange Server manual steps' pages promise: a confirmation records that the admin ran the commands
(Onramp cannot see into their shell), and each page names the later step that proves the result."""

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from tenants.models import Profile
from tests.factories import run_inline, set_state, state_of
from wizard.actions import create_tenant
from wizard.models import AuditEvent, MembershipStatus, Room, StepStatus
from wizard.steps import manual
from wizard.steps.exchange_server import common as service
from wizard.steps.manual import script_sha256
from wizard.steps.registry import get_step


@pytest.fixture
def onprem(admin_user):
    """An Exchange Server organisation whose service account and connection are done."""
    tenant = create_tenant(creator=admin_user, display_name="Onprem", slug="onprem", profile=Profile.EXCHANGE_SERVER)
    set_state(tenant, "service_account", status=StepStatus.SUCCEEDED, inputs={"service_account_upn": "svc@onprem.test"})
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED)
    return tenant


def page_of(client, tenant, step_id: str) -> str:
    return client.get(reverse("wizard:step", args=[tenant.slug, step_id])).content.decode()


@pytest.mark.parametrize(
    ("step_id", "checked_by"),
    [("room_list", "“Verify” proves the result over EWS")],
)
def test_a_confirmation_promises_no_check_it_does_not_make(admin_client, onprem, step_id, checked_by):
    page = page_of(admin_client, onprem, step_id)

    assert "I ran these commands" in page
    assert "check them" not in page and "Onramp then checks the result" not in page
    assert checked_by in page


def test_the_service_account_confirmation_names_connect_as_its_check(admin_user, admin_client):
    tenant = create_tenant(creator=admin_user, display_name="Onprem", slug="onprem", profile=Profile.EXCHANGE_SERVER)
    set_state(tenant, "service_account", inputs={"service_account_upn": "svc@onprem.test"})

    page = page_of(admin_client, tenant, "service_account")

    assert "I ran these commands" in page and "Onramp then checks the result" not in page
    assert "“Connect” proves the account signs in and has a mailbox" in page


def test_the_service_account_page_asks_for_the_account_before_it_shows_commands(admin_user, admin_client):
    """Before the account is saved there is nothing to run: no script for a placeholder, no "I ran these commands"."""
    tenant = create_tenant(creator=admin_user, display_name="Onprem", slug="onprem", profile=Profile.EXCHANGE_SERVER)

    before = page_of(admin_client, tenant, "service_account")
    set_state(tenant, "service_account", inputs={"service_account_upn": "svc@onprem.test"})
    after = page_of(admin_client, tenant, "service_account")

    assert 'name="service_account_upn"' in before
    assert "svc-rooms@contoso.com" not in before and "New-Mailbox" not in before
    assert "I ran these commands" not in before and "script_sha256" not in before
    assert "New-Mailbox" in after and "svc@onprem.test" in after and "I ran these commands" in after
    # The script, then the confirmation, then the form to change the account.
    assert after.index("New-Mailbox") < after.index("I ran these commands") < after.index('name="service_account_upn"')


def test_the_scoped_access_page_offers_no_confirmation_under_the_commands_that_only_read(admin_client, onprem):
    """Get-DistributionGroup only fetches the names the scope needs: the admin pastes them; the confirmation comes
    with the commands that grant the scope."""
    for step_id in ("room_list", "rooms"):
        set_state(onprem, step_id, status=StepStatus.SUCCEEDED)

    reading = page_of(admin_client, onprem, "scoped_access")
    set_state(onprem, "scoped_access", inputs={"room_list_dns": ["CN=Rooms,OU=Groups,DC=onprem,DC=test"]})
    granting = page_of(admin_client, onprem, "scoped_access")

    assert "Get-DistributionGroup" in reading and 'name="room_list_dns"' in reading
    assert "I ran these commands" not in reading and "script_sha256" not in reading
    assert reading.index("Get-DistributionGroup") < reading.index('name="room_list_dns"')
    assert "New-ManagementScope" in granting and "I ran these commands" in granting
    assert granting.index("New-ManagementScope") < granting.index("I ran these commands")


def test_a_confirmation_of_commands_that_only_read_is_refused(admin_client, onprem):
    """Posting the digest of the read-only commands (an old page, a hand-made request) confirms nothing."""
    for step_id in ("room_list", "rooms"):
        set_state(onprem, step_id, status=StepStatus.SUCCEEDED)
    reading = get_step(onprem.profile, "scoped_access").powershell(onprem, state_of(onprem, "scoped_access"))

    response = admin_client.post(
        reverse("wizard:confirm", args=[onprem.slug, "scoped_access"]), {"script_sha256": script_sha256(reading)}
    )

    words = " ".join(str(message) for message in get_messages(response.wsgi_request))
    assert "distinguished names" in words
    assert not AuditEvent.objects.filter(tenant=onprem, action="confirm_manual").exists()


def room_counts_shown(page: str) -> dict[str, int]:
    """The rooms table's filter chips, as the page shows them: {"All": 2, "Pass": 1, "Fail": 0, …}."""
    return {label: int(count) for label, count in re.findall(r'>\s*(\w+) <span class="count">(\d+)</span>', page)}


def test_a_row_the_admin_left_out_on_purpose_counts_as_neither_failed_nor_pending(admin_client, onprem):
    """The admin pasted the script's "not a room" warning back, which takes the row out of the plan: the page lists
    it under the rows left out, and the rooms and verify tables count only the rooms in the lists."""
    room, user = "room-1@onprem.test", "bob@onprem.test"
    set_state(
        onprem,
        "room_list",
        status=StepStatus.SUCCEEDED,
        result={"name": "Rooms", "alias": "rooms", "address": "rooms@onprem.test", "manager": "svc@onprem.test"},
    )
    left_out = {"line": None, "raw": user, "address": user, "status": "not_a_resource_mailbox", "reason": "Not a room"}
    set_state(onprem, "rooms", inputs={"rooms": [room], "refused_rows": [left_out]})
    # An earlier run had placed the row, before Exchange said it is not a room.
    Room.objects.create(tenant=onprem, address=user, room_list="Rooms", membership_status=MembershipStatus.MEMBER)
    manual.confirm_manual_step(
        onprem,
        "rooms",
        "alice",
        digest=manual.script_digest(service.rooms_script, onprem),
        script_of=service.rooms_script,
    )
    run_inline(onprem, "rooms", inputs=state_of(onprem, "rooms").inputs)
    assert state_of(onprem, "rooms").status == StepStatus.SUCCEEDED
    set_state(onprem, "scoped_access", status=StepStatus.SUCCEEDED)

    rooms_page = page_of(admin_client, onprem, "rooms")
    verify_page = page_of(admin_client, onprem, "verify")

    assert "Rows left out of the room lists" in rooms_page and user in rooms_page
    assert room_counts_shown(rooms_page) == {"All": 1, "Pass": 1, "Fail": 0, "Pending": 0}
    assert room_counts_shown(verify_page) == {"All": 1, "Pass": 0, "Fail": 0, "Pending": 1}
