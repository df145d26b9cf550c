"""What the Exchange Server manual steps' pages promise: a confirmation records that the admin ran the commands
(Onramp cannot see into their shell), and each page names the later step that proves the result."""

import pytest
from django.urls import reverse

from tenants.models import Profile
from tests.factories import set_state
from wizard.actions import create_tenant
from wizard.models import StepStatus


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
