"""Emails to an organisation's admins: a step failing through the real worker reaches their inbox from the worker;
a wait ending and activation are told once; an admin who turned them off, viewers, and people without an address
get nothing."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants.models import Invitation, Membership, Role, Tenant, TenantStatus
from tests.factories import make_tenant, make_user, state_of
from tests.helpers import wait_for_mail
from wizard import actions, notifications
from wizard.models import AuditEvent, StepStatus
from wizard.people import actions as people


def _admin(tenant: Tenant):
    return Membership.objects.get(tenant=tenant, role=Role.ADMIN).user


def _with_email(user, address: str):
    user.email = address
    user.save(update_fields=["email"])
    return user


def test_a_failed_step_emails_the_admins_from_the_worker(mailing_worker):
    tenant = make_tenant("contoso")
    _with_email(_admin(tenant), "alice@contoso.com")
    quiet = _with_email(make_user("quentin"), "quentin@contoso.com")
    Membership.objects.create(user=quiet, tenant=tenant, role=Role.ADMIN, notify=False)
    viewer = _with_email(make_user("vera"), "vera@contoso.com")
    Membership.objects.create(user=viewer, tenant=tenant, role=Role.VIEWER)
    # Not connected: the step fails at once for want of credentials.
    actions.submit_step(tenant, "connect", "alice")
    messages = wait_for_mail(mailing_worker)
    assert state_of(tenant, "connect").status == StepStatus.FAILED
    assert "To: alice@contoso.com" in messages
    assert "quentin@" not in messages and "vera@" not in messages
    assert "Connect the tenant failed" in messages
    assert "/t/contoso/steps/connect/" in messages


@pytest.mark.django_db
def test_the_wait_ending_and_activation_are_told_once(django_capture_on_commit_callbacks):
    tenant = make_tenant("contoso")
    _with_email(_admin(tenant), "alice@contoso.com")
    with django_capture_on_commit_callbacks() as scheduled:
        notifications.step_succeeded(tenant, "service_account", waited=True)
        notifications.step_succeeded(tenant, "room_list", waited=False)
    assert len(scheduled) == 1
    tenant.status = TenantStatus.ACTIVE  # as the activation step sets it, on the run's copy of the organisation
    tenant.save(update_fields=["status"])
    with django_capture_on_commit_callbacks() as scheduled:
        notifications.step_succeeded(tenant, "activate", waited=False)
        notifications.step_succeeded(tenant, "activate", waited=False)
    assert len(scheduled) == 1
    assert AuditEvent.objects.filter(tenant=tenant, action="notify", outcome="activated").count() == 1

    assert notifications.send_notification(tenant.pk, notifications.WAIT_ENDED, "service_account") == 1
    assert notifications.send_notification(tenant.pk, notifications.ACTIVATED, "activate") == 1
    wait_mail, active_mail = mail.outbox
    assert wait_mail.subject == "[Onramp] Contoso: Service account is done, the wait is over"
    assert "/t/contoso/steps/service_account/" in wait_mail.body
    assert active_mail.subject == "[Onramp] Contoso is active" and "/t/contoso/activation/" in active_mail.body


@pytest.mark.django_db
def test_an_admin_turns_their_emails_off_and_on():
    tenant = make_tenant("contoso")
    admin = _with_email(_admin(tenant), "alice@contoso.com")
    client = Client()
    client.force_login(admin)
    client.post(reverse("people:notifications", args=["contoso"]), {})
    assert notifications.recipients(tenant) == []
    client.post(reverse("people:notifications", args=["contoso"]), {"notify": "on"})
    assert notifications.recipients(tenant) == ["alice@contoso.com"]
    assert list(AuditEvent.objects.filter(action="notifications").values_list("outcome", flat=True)) == ["on", "off"]


def test_an_invitation_is_emailed_by_the_worker_not_the_request(mailing_worker):
    tenant = make_tenant("contoso")
    client = Client()
    client.force_login(_admin(tenant))

    answer = client.post(reverse("people:invite", args=["contoso"]), {"email": "Bob@Contoso.com", "role": Role.ADMIN})

    assert answer.status_code == 302
    assert mail.outbox == [], "the request sent the email itself"
    message = wait_for_mail(mailing_worker)
    assert "To: bob@contoso.com" in message
    assert "Subject: You are invited to set up Contoso in Onramp" in message
    assert "admin-contoso invites you to Contoso in Onramp as Admin." in message
    link = re.search(r"http://testserver/invitations/(\S+)/", message)
    assert link and people.invitation_from_token(link.group(1)).email == "bob@contoso.com"


@pytest.mark.django_db
def test_an_invitation_withdrawn_before_its_email_left_is_not_sent():
    tenant = make_tenant("contoso")
    invitation = Invitation.objects.create(tenant=tenant, email="bob@contoso.com", invited_by=_admin(tenant))
    link = f"https://onramp.example/invitations/{people.invitation_token(invitation)}/"
    Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())

    assert notifications.send_invitation(invitation.pk, link) == 0
    assert mail.outbox == []
    Invitation.objects.filter(pk=invitation.pk).update(revoked_at=None)
    assert notifications.send_invitation(invitation.pk, link) == 1
    assert mail.outbox[0].to == ["bob@contoso.com"] and link in mail.outbox[0].body
