"""Input that used to crash: an invitation to an address longer than its column (500 on PostgreSQL), and an
organisation name with a newline, which made every email for the organisation fail with BadHeaderError."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tenants.models import Invitation, Membership, Role, Tenant
from tests.factories import make_tenant, make_user
from wizard import notifications
from wizard.people import actions as people

pytestmark = pytest.mark.django_db


def _admin_client(tenant: Tenant) -> Client:
    client = Client()
    client.force_login(Membership.objects.get(tenant=tenant, role=Role.ADMIN).user)
    return client


def test_an_invitation_to_an_address_longer_than_254_characters_is_a_form_error():
    tenant = make_tenant("contoso")
    address = "a" * 300 + "@contoso.com"

    answer = _admin_client(tenant).post(
        reverse("people:invite", args=["contoso"]), {"email": address, "role": "viewer"}
    )

    assert answer.status_code == 400
    assert "at most 254 characters" in answer.content.decode()
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "name", ["Contoso\nBcc: victim@example.com", "Contoso\rLtd", "Contoso\x1b[31m", "Contoso\u2028Ltd"]
)
def test_an_organisation_name_with_a_control_character_is_refused_at_creation(name):
    client = Client()
    client.force_login(make_user("alice"))

    answer = client.post(
        reverse("orgs:create"), {"display_name": name, "slug": "contoso", "profile": "exchange_online"}
    )

    assert answer.status_code == 200
    assert "line breaks or control characters" in answer.content.decode()
    assert not Tenant.objects.exists()


def _tenant_named_with_a_newline() -> Tenant:
    """An organisation created before names were checked."""
    tenant = make_tenant("contoso")
    Tenant.objects.filter(pk=tenant.pk).update(display_name="Contoso\nBcc: victim@example.com")
    return Tenant.objects.get(pk=tenant.pk)


def test_an_invitation_to_an_organisation_whose_name_has_a_newline_is_sent():
    tenant = _tenant_named_with_a_newline()
    admin = Membership.objects.get(tenant=tenant).user
    invitation = Invitation.objects.create(tenant=tenant, email="bob@contoso.com", invited_by=admin)
    link = f"https://onramp.example/invitations/{people.invitation_token(invitation)}/"

    assert notifications.send_invitation(invitation.pk, link) == 1

    assert mail.outbox[0].subject == "You are invited to set up Contoso Bcc: victim@example.com in Onramp"
    assert mail.outbox[0].to == ["bob@contoso.com"]


def test_a_notification_for_an_organisation_whose_name_has_a_newline_is_sent():
    tenant = _tenant_named_with_a_newline()
    admin = Membership.objects.get(tenant=tenant).user
    admin.email = "alice@contoso.com"
    admin.save(update_fields=["email"])

    assert notifications.send_notification(tenant.pk, notifications.FAILED, "connect", "It failed.") == 1

    subject = mail.outbox[0].subject
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("[Onramp] Contoso Bcc: victim@example.com: ")
    assert mail.outbox[0].to == ["alice@contoso.com"]
