"""Roles, invitations and the members page; support viewers and operators. tenants.access decides, wizard.people
acts, every change is in the audit trail."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tenants import access
from tenants.models import Invitation, Membership, Role, SupportGrant, SupportRole
from tests.factories import PASSWORD, make_tenant, make_user, set_state
from wizard.models import AuditEvent, StepStatus

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def invite(django_capture_on_commit_callbacks):
    """Invite through the members page; returns the link's path as the page shows it to the admin. The email
    leaves from the worker once the transaction commits (tests/people/test_notifications.py); here it is only
    checked to be scheduled."""

    def send(client: Client, slug: str, email: str, role: str = Role.VIEWER) -> str:
        with django_capture_on_commit_callbacks() as scheduled:
            answer = client.post(reverse("people:invite", args=[slug]), {"email": email, "role": role})
        assert answer.status_code == 302, answer.content
        assert len(scheduled) == 1 and mail.outbox == [], "the request sent the email itself"
        page = client.get(answer["Location"]).content.decode()
        field = re.search(rf'value="(\S+)" aria-label="Invitation link for {re.escape(email.lower())}"', page)
        return field.group(1).split("testserver", 1)[1]

    return send


def test_an_admin_invites_and_the_colleague_accepts_once(invite):
    tenant = make_tenant("contoso")
    admin = Membership.objects.get(tenant=tenant).user
    path = invite(_client(admin), "contoso", "Bob@Contoso.com", Role.ADMIN)
    bob = make_user("bob", email="bob@contoso.com")
    bob_client = _client(bob)
    assert "Join Contoso" in bob_client.get(path).content.decode()
    assert bob_client.post(path).status_code == 302
    assert access.is_tenant_admin(bob, tenant)
    assert AuditEvent.objects.filter(tenant=tenant, action="member_joined", actor="bob").exists()
    again = _client(make_user("carol")).post(path)
    assert again.status_code == 410 and "already been used" in again.content.decode()
    assert not Membership.objects.filter(user__username="carol").exists()


def test_an_invitation_signed_in_later_with_a_password_comes_back_to_the_link(invite):
    make_tenant("contoso")
    admin = Membership.objects.get().user
    path = invite(_client(admin), "contoso", "dave@contoso.com")
    anonymous = Client()
    page = anonymous.get(path).content.decode()
    assert "Sign in with an Onramp account to accept" in page
    make_user("dave", email="dave@contoso.com")
    answer = anonymous.post("/login/", {"username": "dave", "password": PASSWORD, "next": path})
    assert answer["Location"] == path
    assert not Membership.objects.filter(user__username="dave").exists(), "joined before pressing Accept"
    assert "Accept and join" in anonymous.get(path).content.decode()
    anonymous.post(path)
    assert Membership.objects.get(user__username="dave").role == Role.VIEWER


def test_revoked_expired_and_forged_links_are_refused(invite):
    tenant = make_tenant("contoso")
    admin_client = _client(Membership.objects.get().user)
    revoked = invite(admin_client, "contoso", "r@contoso.com")
    invitation = Invitation.objects.get(email="r@contoso.com")
    admin_client.post(reverse("people:revoke", args=["contoso", invitation.pk]))
    expired = invite(admin_client, "contoso", "e@contoso.com")
    Invitation.objects.filter(email="e@contoso.com").update(created_at=invitation.created_at - timedelta(days=8))
    eve = _client(make_user("eve"))
    assert "withdrawn" in eve.get(revoked).content.decode()
    assert "expired" in eve.get(expired).content.decode()
    assert eve.post(expired).status_code == 410
    forged = revoked[:-2] + ("A" if revoked[-2] != "A" else "B") + "/"
    assert "not valid" in eve.get(forged).content.decode()
    assert not Membership.objects.filter(user__username="eve").exists()
    assert AuditEvent.objects.filter(tenant=tenant, action="invitation_revoked").count() == 1


def test_only_admins_manage_members_and_the_last_admin_stays():
    tenant = make_tenant("contoso")
    admin = Membership.objects.get().user
    viewer = make_user("vera")
    Membership.objects.create(user=viewer, tenant=tenant, role=Role.VIEWER)
    viewer_client = _client(viewer)
    page = viewer_client.get(reverse("people:members", args=["contoso"])).content.decode()
    assert "vera" in page and "Invite a colleague" not in page
    assert (
        viewer_client.post(reverse("people:invite", args=["contoso"]), {"email": "x@y.z", "role": "admin"}).status_code
        == 404
    )
    admin_client = _client(admin)
    own = Membership.objects.get(user=admin)
    admin_client.post(reverse("people:change_role", args=["contoso", own.pk]), {"role": Role.VIEWER})
    assert Membership.objects.get(pk=own.pk).role == Role.ADMIN  # the only admin
    vera = Membership.objects.get(user=viewer)
    admin_client.post(reverse("people:change_role", args=["contoso", vera.pk]), {"role": Role.ADMIN})
    assert Membership.objects.get(pk=vera.pk).role == Role.ADMIN
    admin_client.post(reverse("people:remove", args=["contoso", own.pk]))
    assert not Membership.objects.filter(pk=own.pk).exists()
    actions = set(AuditEvent.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert {"member_role_changed", "member_removed"} <= actions


def test_a_viewer_sees_progress_but_cannot_run_or_retry():
    tenant = make_tenant("contoso")
    viewer = make_user("vera")
    Membership.objects.create(user=viewer, tenant=tenant, role=Role.VIEWER)
    set_state(tenant, "connect", status=StepStatus.FAILED, error_code="X", error_message="Broken.")
    client = _client(viewer)
    page = client.get(reverse("wizard:step", args=["contoso", "connect"])).content.decode()
    assert "Broken." in page
    assert "only the organisation's admins can run it" in page
    assert reverse("wizard:action", args=["contoso", "connect", "retry"]) not in page
    assert client.post(reverse("wizard:action", args=["contoso", "connect", "retry"])).status_code == 404


def test_support_viewer_reads_and_support_operator_retries():
    tenant = make_tenant("contoso")
    set_state(tenant, "connect", status=StepStatus.FAILED, error_code="X", error_message="Broken.")
    call_command("support_user", "sven", "--role", "support_viewer")
    call_command("support_user", "olga", "--role", "support_operator")
    retry = reverse("wizard:action", args=["contoso", "connect", "retry"])
    sven = _client(SupportGrant.objects.get(role=SupportRole.VIEWER).user)
    olga = _client(SupportGrant.objects.get(role=SupportRole.OPERATOR).user)
    console = reverse("orgs:support_tenant", args=["contoso"])
    assert "Broken." in sven.get(console).content.decode()
    assert retry not in sven.get(console).content.decode()
    assert sven.post(retry).status_code == 404
    assert retry in olga.get(console).content.decode()
    assert olga.post(retry).status_code == 302
    assert AuditEvent.objects.filter(tenant=tenant, actor="olga").exists()
    assert not access.can_change_secrets(olga.get("/").wsgi_request.user, tenant)


def test_support_user_command_sets_a_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("SUPPORT_PW", "pw-support-5678")
    call_command("support_user", "sam", "--role", "support_operator", "--password-env", "SUPPORT_PW")
    signed_in = Client().post(reverse("login"), {"username": "sam", "password": "pw-support-5678"})
    assert signed_in.status_code == 302
    call_command("support_user", "sam", "--revoke")
    assert not SupportGrant.objects.exists()
