"""An invitation is accepted only by the person it is addressed to: a password account whose email is the invited
address (any case), or a Microsoft sign-in whose ID token's `email` or `preferred_username` is. The person sees what
they are joining and presses Accept; a sign-in started from the link brings them back to it instead of joining
silently. Anyone else is told whose invitation it is and the refusal is in the organisation's audit trail. The
link never reaches a log at INFO."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tenants import access
from tenants.models import Invitation, Membership, Role, Tenant
from tests.factories import make_tenant, make_user
from tests.people.test_signin import PLAIN_USER, _bound_tenant
from wizard import notifications
from wizard.models import AuditEvent
from wizard.people import actions as people

pytestmark = pytest.mark.django_db


def _invitation_path(tenant: Tenant, email: str, role: str = Role.ADMIN) -> str:
    admin = Membership.objects.get(tenant=tenant, role=Role.ADMIN).user
    invitation = Invitation.objects.create(tenant=tenant, email=email, role=role, invited_by=admin)
    return reverse("people:invitation", args=[people.invitation_token(invitation)])


def _signed_in(username: str, email: str = "") -> Client:
    client = Client()
    client.force_login(make_user(username, email=email))
    return client


def test_a_password_account_with_another_address_is_told_whose_invitation_it_is_and_cannot_accept():
    tenant = make_tenant("contoso")
    path = _invitation_path(tenant, "bob@contoso.com")
    carol = _signed_in("carol", email="carol@fabrikam.com")

    page = carol.get(path)
    accepted = carol.post(path)

    assert page.status_code == 403 and accepted.status_code == 403
    for answer in (page, accepted):
        text = answer.content.decode()
        assert "This invitation is for b…@contoso.com; you are signed in as carol@fabrikam.com" in text
        assert "Accept and join" not in text and "bob@contoso.com" not in text
    assert not Membership.objects.filter(user__username="carol").exists()
    assert Invitation.objects.get().accepted_at is None
    refusals = AuditEvent.objects.filter(tenant=tenant, action="invitation_refused", actor="carol")
    assert refusals.count() == 2
    assert refusals.first().detail["signed_in_as"] == ["carol@fabrikam.com"]


def test_an_account_without_an_email_address_cannot_accept():
    tenant = make_tenant("contoso")
    path = _invitation_path(tenant, "bob@contoso.com")

    answer = _signed_in("bob").post(path)

    assert answer.status_code == 403
    assert "you are signed in as bob, an account with no email address" in answer.content.decode()
    assert not Membership.objects.filter(user__username="bob").exists()


def test_the_invited_address_in_another_case_accepts():
    tenant = make_tenant("contoso")
    path = _invitation_path(tenant, "bob@contoso.com")
    bob = _signed_in("bob", email="Bob@Contoso.COM")

    page = bob.get(path).content.decode()
    assert "Join Contoso" in page and "bob@contoso.com" in page and "Accept and join" in page
    assert bob.post(path)["Location"] == reverse("wizard:resume", args=["contoso"])

    assert access.is_tenant_admin(make_user("bob"), tenant)
    assert not AuditEvent.objects.filter(action="invitation_refused").exists()


def test_a_signed_out_visitor_sees_only_part_of_the_invited_address():
    tenant = make_tenant("contoso")
    page = Client().get(_invitation_path(tenant, "bob@contoso.com")).content.decode()
    assert "b…@contoso.com" in page and "bob@contoso.com" not in page


def test_signing_in_with_microsoft_from_the_link_comes_back_to_it_and_joins_only_on_accept(microsoft_sign_in):
    tenant = _bound_tenant(microsoft_sign_in.info)
    path = _invitation_path(tenant, PLAIN_USER.upper(), Role.VIEWER)
    visitor = Client()
    assert visitor.get(path).status_code == 200

    _, answer = microsoft_sign_in(PLAIN_USER, client=visitor)

    assert answer.status_code == 302 and answer["Location"] == path
    assert not Membership.objects.filter(user__microsoft_identity__username=PLAIN_USER).exists(), "joined silently"
    page = visitor.get(path).content.decode()
    assert "Join Contoso" in page and "Accept and join" in page
    assert visitor.post(path)["Location"] == reverse("wizard:resume", args=["contoso"])
    assert Membership.objects.get(user__microsoft_identity__username=PLAIN_USER).role == Role.VIEWER


def test_a_microsoft_sign_in_from_someone_elses_link_is_refused_and_recorded(microsoft_sign_in):
    tenant = _bound_tenant(microsoft_sign_in.info)
    path = _invitation_path(tenant, "bob@contoso.onmicrosoft.com")
    visitor = Client()
    visitor.get(path)

    _, answer = microsoft_sign_in(PLAIN_USER, client=visitor)

    assert answer.status_code == 403
    assert f"This invitation is for b…@contoso.onmicrosoft.com; you are signed in as {PLAIN_USER}" in (
        answer.content.decode()
    )
    assert not visitor.get("/").wsgi_request.user.is_authenticated
    assert not Membership.objects.filter(user__microsoft_identity__username=PLAIN_USER).exists()
    assert AuditEvent.objects.filter(tenant=tenant, action="invitation_refused", actor=PLAIN_USER).exists()


def test_a_microsoft_person_who_may_sign_in_anyway_is_brought_back_to_someone_elses_link_and_refused(
    microsoft_sign_in,
):
    tenant = make_tenant("contoso")  # bound to no Microsoft tenant: anyone may sign in
    path = _invitation_path(tenant, "bob@contoso.onmicrosoft.com")
    visitor = Client()
    visitor.get(path)

    _, answer = microsoft_sign_in(PLAIN_USER, client=visitor)
    assert answer["Location"] == path
    accepted = visitor.post(path)

    assert accepted.status_code == 403
    assert "This invitation is for b…@contoso.onmicrosoft.com" in accepted.content.decode()
    assert not Membership.objects.filter(tenant=tenant, user__microsoft_identity__username=PLAIN_USER).exists()
    assert AuditEvent.objects.filter(tenant=tenant, action="invitation_refused", actor=PLAIN_USER).exists()


def test_an_invitation_link_reaches_no_log_at_info(caplog):
    tenant = make_tenant("contoso")
    invitation = Invitation.objects.create(tenant=tenant, email="bob@contoso.com")
    link = f"https://onramp.example/invitations/{people.invitation_token(invitation)}/"

    with caplog.at_level(logging.DEBUG):
        assert notifications.send_invitation(invitation.pk, link) == 1

    assert not [record for record in caplog.records if record.levelno >= logging.INFO and link in record.getMessage()]


def test_the_default_mail_backend_writes_files_under_the_var_dir_not_to_the_log(tmp_path: Path):
    """The console backend printed every email, invitation links included, to the worker's log."""
    environment = {name: value for name, value in os.environ.items() if name != "EMAIL_URL"}
    environment.update(ONRAMP_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; print(settings.EMAIL_BACKEND, settings.EMAIL_FILE_PATH)",
        ],
        env=environment,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert shown == ["django.core.mail.backends.filebased.EmailBackend", str(tmp_path / "mail")]
