"""What the Exchange Server manual steps' pages promise: a confirmation records that the admin ran the commands
(Onramp cannot see into their shell), and each page names the later step that proves the result."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from tenants.models import Profile
from tests.factories import set_state, state_of
from wizard.actions import create_tenant
from wizard.models import AuditEvent, StepStatus
from wizard.services.exchange_server import script_sha256
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
