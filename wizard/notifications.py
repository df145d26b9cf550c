"""Email to an organisation's admins when something they wait for happens: a wait ends (a mailbox is ready, permissions
have propagated), a step fails, the organisation is activated. The engine calls `step_succeeded` and `step_failed`
inside its transaction; the email leaves from the worker once that commits, never from a request, and is retried
when the mail server is unreachable. A drift check that finds something new is emailed the same way. Each admin may
turn them off per organisation (members page). Invitations to join an organisation leave from the worker too."""

import functools
import logging
import smtplib
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from celery import current_app, shared_task
from django.conf import settings
from django.core.mail import send_mail, send_mass_mail
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tenants.models import Invitation, Membership, Role, Tenant, TenantStatus
from wizard import drift
from wizard.audit import SYSTEM_ACTOR, record_event
from wizard.models import AuditEvent, DriftCheck
from wizard.steps.registry import step_of

logger = logging.getLogger(__name__)

NOTIFY_TASK = "wizard.notifications.send_notification"
INVITATION_TASK = "wizard.notifications.send_invitation"
WAIT_ENDED, FAILED, ACTIVATED, DRIFTED = "wait_ended", "failed", "activated", "drifted"
SIGN_IN_NEEDED = "sign_in_needed"
P = ParamSpec("P")
R = TypeVar("R")


def _schedule(tenant: Tenant, kind: str, step_id: str, message: str = "") -> None:
    tenant_id = tenant.pk
    transaction.on_commit(lambda: current_app.send_task(NOTIFY_TASK, args=[tenant_id, kind, step_id, message]))


def step_succeeded(tenant: Tenant, step_id: str, *, waited: bool) -> None:
    """A step finished: tell the admins if it had been waiting on Microsoft, and once when the organisation
    becomes active."""
    if waited:
        _schedule(tenant, WAIT_ENDED, step_id)
    # The run's own copy of the organisation: the activation step sets its status on it.
    activated = tenant.status == TenantStatus.ACTIVE
    if activated and not AuditEvent.objects.filter(tenant=tenant, action="notify", outcome=ACTIVATED).exists():
        record_event(tenant, SYSTEM_ACTOR, "notify", ACTIVATED, step_id)
        _schedule(tenant, ACTIVATED, step_id)


def step_failed(tenant: Tenant, step_id: str, message: str) -> None:
    _schedule(tenant, FAILED, step_id, message)


def sign_in_needed(tenant: Tenant, step_id: str) -> None:
    """A step stopped until an administrator signs in again (Microsoft refused the kept sign-in)."""
    _schedule(tenant, SIGN_IN_NEEDED, step_id)


def drift_checked(check: DriftCheck) -> None:
    """Tell the admins what a drift check found that the previous one did not, each finding in a line."""
    news = drift.new_findings(check)
    if news:
        _schedule(check.tenant, DRIFTED, "verify", "\n".join(f"- {f['summary']} {f['fix']}" for f in news))


def recipients(tenant: Tenant) -> list[str]:
    """The organisation's admins who have an email address and have not turned notifications off."""
    memberships = Membership.objects.filter(tenant=tenant, role=Role.ADMIN, notify=True).select_related("user")
    return sorted({m.user.email for m in memberships if m.user.email})


def one_line(subject: str) -> str:
    """A subject with every run of whitespace, line breaks included, made one space: a line break in a header is
    refused by Django (BadHeaderError), and an organisation named before names were checked may hold one."""
    return " ".join(subject.split())


def in_the_installations_language(write: Callable[P, R]) -> Callable[P, R]:
    """Emails leave from the worker, where no browser says which language to write in: LANGUAGE_CODE
    (ONRAMP_LANGUAGE), whatever language the calling thread has active."""

    @functools.wraps(write)
    def written(*args: P.args, **kwargs: P.kwargs) -> R:
        with translation.override(settings.LANGUAGE_CODE):
            return write(*args, **kwargs)

    return written


@in_the_installations_language
def compose(tenant: Tenant, kind: str, step_id: str, message: str = "") -> tuple[str, str]:
    """(subject, body) of one notification, with a link straight to the step."""
    title = step_of(tenant, step_id).title
    link = settings.ONRAMP_BASE_URL.rstrip("/") + reverse("wizard:step", args=[tenant.slug, step_id])
    # A failure's message is saved in English; one Onramp wrote in fixed words (gettext_noop) reads translated.
    names = {"organisation": tenant.display_name, "title": title, "message": _(message) if message else ""}
    if kind == WAIT_ENDED:
        subject = _("{organisation}: {title} is done, the wait is over").format(**names)
        text = _(
            "Microsoft finished what “{title}” was waiting for, and the step is done. Continue with the next step:"
        ).format(**names)
    elif kind == FAILED:
        subject = _("{organisation}: {title} failed").format(**names)
        text = _("“{title}” failed: {message}\n\nWhat to do is on the step's page:").format(**names)
    elif kind == SIGN_IN_NEEDED:
        subject = _("{organisation}: sign in again to continue {title}").format(**names)
        text = _(
            "Microsoft no longer accepts the administrator's sign-in that Onramp works under (it was revoked, the "
            "password changed, or a policy asks for a new sign-in), so “{title}” waits. An administrator of the "
            "organisation presses “Sign in again to continue” on the step's page; the step then resumes where it "
            "stopped:"
        ).format(**names)
    elif kind == DRIFTED:
        subject = _("{organisation}: the setup has drifted").format(**names)
        text = _("The scheduled check of {organisation} found changes in Microsoft 365:\n{message}\n\nDetails:").format(
            **names
        )
        link = settings.ONRAMP_BASE_URL.rstrip("/") + reverse("wizard:activation", args=[tenant.slug])
    else:
        subject = _("{organisation} is active").format(**names)
        text = _("Every step of {organisation} is done and the organisation is active. The summary:").format(**names)
        link = settings.ONRAMP_BASE_URL.rstrip("/") + reverse("wizard:activation", args=[tenant.slug])
    footer = _("You get these emails as an admin of this organisation in Onramp; turn them off on its Members page.")
    return one_line(f"[Onramp] {subject}"), f"{text}\n{link}\n\n--\n{footer}\n"


# A mail server that is down or refuses for a while: the worker tries again, waiting longer each time.
_RETRIED = {
    "autoretry_for": (smtplib.SMTPException, OSError),
    "retry_backoff": 30,
    "retry_backoff_max": 1800,
    "max_retries": 8,
    "acks_late": True,
}


@shared_task(name=NOTIFY_TASK, **_RETRIED)
def send_notification(tenant_id: int, kind: str, step_id: str, message: str = "") -> int:
    """Send one notification to each current recipient; returns how many were sent."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return 0
    to = recipients(tenant)
    if not to:
        return 0
    subject, body = compose(tenant, kind, step_id, message)
    sent = send_mass_mail([(subject, body, None, [address]) for address in to])
    logger.info("notified %d admins of %s: %s %s", sent, tenant.slug, kind, step_id)
    return sent


def invitation_made(invitation: Invitation, link: str) -> None:
    """Email the invitation's link from the worker once the invitation is committed."""
    invitation_id = invitation.pk
    transaction.on_commit(lambda: current_app.send_task(INVITATION_TASK, args=[invitation_id, link]))


@shared_task(name=INVITATION_TASK, **_RETRIED)
def send_invitation(invitation_id: int, link: str) -> int:
    """Send an invitation's link to the person invited; 0 when it was revoked or used before the email left."""
    invitation = Invitation.objects.select_related("tenant", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.revoked_at is not None or invitation.accepted_at is not None:
        return 0
    subject, body = invitation_email(invitation, link)
    sent = send_mail(subject, body, None, [invitation.email])
    logger.info("sent invitation %d of %s", invitation.pk, invitation.tenant.slug)
    return sent


@in_the_installations_language
def invitation_email(invitation: Invitation, link: str) -> tuple[str, str]:
    """(subject, body) of an invitation's email."""
    inviter = invitation.invited_by.get_username() if invitation.invited_by else _("An admin")
    names = {"inviter": inviter, "organisation": invitation.tenant.display_name, "role": invitation.get_role_display()}
    days = settings.ONRAMP_INVITATION_DAYS
    body = (
        _("{inviter} invites you to {organisation} in Onramp as {role}.").format(**names)
        + "\n\n"
        + ngettext(
            "Accept within {days} day (the link works once):", "Accept within {days} days (the link works once):", days
        ).format(days=days)
        + f"\n{link}\n"
    )
    return one_line(_("You are invited to set up {organisation} in Onramp").format(**names)), body
