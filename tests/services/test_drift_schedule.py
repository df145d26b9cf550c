"""The drift check's schedule: beat's cron entry from ONRAMP_DRIFT_SCHEDULE; each organisation due at a stable
offset within the window; a due check claimed once; a scheduled check run by the worker, its new findings emailed
to the admins from the worker, and an organisation that opted in has its new rooms placed by the rooms step."""

import subprocess
import sys
from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.utils import timezone

from tenants.models import Membership, Profile, Role, TenantStatus
from tests.factories import activated_tenant, make_tenant, state_of
from tests.helpers import ROOT, wait_for, wait_for_mail
from wizard import drift, tasks
from wizard.models import DriftCheck, DriftCheckStatus, MembershipStatus, Room, StepStatus

WINDOW = 4 * 3600


def test_beat_runs_the_schedule_from_the_environment_and_polls_for_due_checks():
    entry = settings.CELERY_BEAT_SCHEDULE["drift-checks"]
    assert entry["task"] == "wizard.tasks.schedule_drift_checks"
    assert entry["schedule"] == crontab(minute="0", hour="1")
    assert settings.ONRAMP_DRIFT_WINDOW_SECONDS == WINDOW
    assert settings.CELERY_BEAT_SCHEDULE["drift-checks-due"]["task"] == "wizard.tasks.start_due_drift_checks"


def test_a_schedule_that_is_not_five_cron_fields_is_refused_at_start():
    env = {"ONRAMP_DRIFT_SCHEDULE": "every night", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "ONRAMP_VAR_DIR": str(settings.VAR_DIR)},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "ONRAMP_DRIFT_SCHEDULE must have 5 cron fields, not 'every night'" in result.stderr


@pytest.mark.django_db
def test_each_organisation_keeps_its_own_slot_within_the_window():
    tenants = [make_tenant(f"org-{n:02d}") for n in range(40)]

    offsets = [drift.offset_seconds(tenant, WINDOW) for tenant in tenants]

    assert offsets == [drift.offset_seconds(tenant, WINDOW) for tenant in tenants]
    assert all(0 <= offset < WINDOW for offset in offsets)
    assert len(set(offsets)) == len(offsets)
    assert max(offsets) - min(offsets) > WINDOW / 2
    assert drift.offset_seconds(tenants[0], 0) == 0


@pytest.mark.django_db
def test_the_fleet_is_scheduled_once_and_a_due_check_is_claimed_once():
    active = [make_tenant(f"org-{n}") for n in range(3)]
    for tenant in active:
        tenant.status = TenantStatus.ACTIVE
        tenant.save()
    make_tenant("setting-up")
    server = make_tenant("on-prem", profile=Profile.EXCHANGE_SERVER)
    server.status = TenantStatus.ACTIVE
    server.save()
    now = timezone.now()

    scheduled = drift.schedule_fleet(now, WINDOW)

    assert sorted(check.tenant.slug for check in scheduled) == ["org-0", "org-1", "org-2"]
    offsets = [timedelta(seconds=drift.offset_seconds(check.tenant, WINDOW)) for check in scheduled]
    assert [check.due_at for check in scheduled] == [now + offset for offset in offsets]
    assert drift.schedule_fleet(now, WINDOW) == []
    first = min(scheduled, key=lambda check: check.due_at)
    [(claimed, claim)] = drift.claim_due(first.due_at)
    assert claimed == first.pk
    assert drift.claim_due(first.due_at) == []
    first.refresh_from_db()
    assert first.status == DriftCheckStatus.RUNNING and first.claim == claim and first.heartbeat_at is None
    assert len(drift.claim_due(now + timedelta(seconds=WINDOW))) == 2


@pytest.mark.django_db
def test_checks_due_together_are_sent_the_organisation_with_most_rooms_first():
    # Created smallest first, as a fleet's pks often are: sent in that order, the largest would start last and end
    # the round alone.
    rooms_of = {"small": 2, "none": 0, "large": 5, "medium": 3}
    for slug, count in rooms_of.items():
        tenant = make_tenant(slug)
        tenant.status = TenantStatus.ACTIVE
        tenant.save()
        Room.objects.bulk_create(Room(tenant=tenant, address=f"room{n}@{slug}.example") for n in range(count))
    now = timezone.now()
    scheduled = {check.pk: check.tenant.slug for check in drift.schedule_fleet(now, 0)}

    claims = drift.claim_due(now)

    assert [scheduled[check_id] for check_id, _ in claims] == ["large", "medium", "small", "none"]


def test_the_scheduled_check_runs_on_the_worker_emails_the_admins_and_places_new_rooms_when_asked(
    sandbox_tenant, mailing_worker
):
    tenant = activated_tenant(sandbox_tenant.info)
    admin = Membership.objects.get(tenant=tenant, role=Role.ADMIN).user
    admin.email = "alice@contoso.com"
    admin.save()
    tenant.place_new_rooms = True
    tenant.save()
    new = sandbox_tenant.control.add_mailbox("room", alias="new-room")["userPrincipalName"].lower()
    [check] = drift.schedule_fleet(timezone.now(), 0)

    assert tasks.start_due_drift_checks() == 1

    check = wait_for(
        lambda: (
            (c := DriftCheck.objects.get(pk=check.pk)).status in (DriftCheckStatus.DONE, DriftCheckStatus.FAILED) and c
        ),
        60,
        what="the drift check on the worker",
    )
    assert [f["kind"] for f in check.findings] == ["new_rooms"], check.error_message
    message = wait_for_mail(mailing_worker)
    assert "To: alice@contoso.com" in message and "the setup has drifted" in message
    assert "1 new room(s), not in any list." in message and "/t/contoso/activation/" in message
    placed = wait_for(
        lambda: (
            state_of(tenant, "rooms").status == StepStatus.SUCCEEDED
            and Room.objects.filter(tenant=tenant, address=new, membership_status=MembershipStatus.MEMBER).exists()
        ),
        60,
        what="the rooms step to place the new room",
    )
    assert placed
    members = sandbox_tenant.control.invoke(
        "Get-DistributionGroupMember", Identity=state_of(tenant, "rooms").result["lists"][0]["dn"]
    )
    assert new in {member["PrimarySmtpAddress"].lower() for member in members}
    chained = wait_for(
        lambda: (
            (state := state_of(tenant, "activate")).status == StepStatus.SUCCEEDED
            and state.finished_at > check.finished_at
        ),
        120,
        what="scoped access, verify and activate to follow the placement",
    )
    assert chained and state_of(tenant, "verify").finished_at > check.finished_at
    assert drift.check_now(tenant, "test").findings == []
