"""A drift check's claim (issue 29): a running check whose worker stopped beating is taken over once with a new
claim; the run it was taken from records nothing, even if it was alive all along; a claim starts once; a check
taken over ONRAMP_AUTO_RESUMES times is failed with why; a claimed message no worker started is sent again with
its claim. tests/faults/test_drift_worker_killed.py kills a real worker."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.models import TenantStatus
from tests.factories import activated_tenant, make_tenant
from wizard import drift
from wizard.models import AuditEvent, DriftCheck, DriftCheckStatus

TIMEOUT = 4


@pytest.fixture
def heartbeat(settings):
    settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = TIMEOUT
    settings.ONRAMP_AUTO_RESUMES = 2


def _claimed(slug: str = "contoso") -> tuple[DriftCheck, str]:
    tenant = make_tenant(slug)
    tenant.status = TenantStatus.ACTIVE
    tenant.save()
    now = timezone.now()
    [check] = drift.schedule_fleet(now, 0)
    [(check_id, claim)] = drift.claim_due(now)
    return DriftCheck.objects.get(pk=check_id), claim


def _started(check: DriftCheck, claim: str, seconds_ago: float) -> None:
    """As a worker's run leaves its check: started, its last beat `seconds_ago`."""
    beat = timezone.now() - timedelta(seconds=seconds_ago)
    DriftCheck.objects.filter(pk=check.pk, claim=claim).update(heartbeat_at=beat, started_at=beat)


@pytest.mark.django_db
def test_a_check_that_stopped_beating_is_taken_over_once_and_its_old_claim_starts_nothing(heartbeat):
    check, claim = _claimed()
    _started(check, claim, TIMEOUT - 1)
    assert drift.take_over_lost_checks() == []

    _started(check, claim, TIMEOUT + 1)
    [(taken, new_claim)] = drift.take_over_lost_checks()

    check.refresh_from_db()
    assert taken == check.pk and new_claim == check.claim != claim
    assert check.status == DriftCheckStatus.RUNNING and check.takeovers == 1 and check.heartbeat_at is None
    assert drift.take_over_lost_checks() == [], "a check waiting for its new run is not taken over again"
    assert drift.run_check(check.pk, claim) is None, "the old claim starts nothing"
    event = AuditEvent.objects.get(action="heartbeat", outcome="taken_over")
    assert event.detail == {"drift_check": check.pk, "takeover": 1}


@pytest.mark.django_db
def test_a_check_taken_over_as_often_as_allowed_is_failed_with_why(heartbeat):
    check, claim = _claimed()
    for takeover in (1, 2):
        _started(check, claim, TIMEOUT + 1)
        [(_, claim)] = drift.take_over_lost_checks()
        check.refresh_from_db()
        assert check.takeovers == takeover
    _started(check, claim, TIMEOUT + 1)

    assert drift.take_over_lost_checks() == []

    check.refresh_from_db()
    assert check.status == DriftCheckStatus.FAILED
    assert check.error_message == "The worker running the check stopped 3 times before it ended; " + (
        "the next check runs as scheduled."
    )
    assert [c.pk for c in drift.schedule_fleet(timezone.now(), 0)] != [check.pk]


@pytest.mark.django_db
def test_a_claimed_message_no_worker_started_is_sent_again_with_its_claim(heartbeat):
    check, claim = _claimed()
    DriftCheck.objects.filter(pk=check.pk).update(
        started_at=timezone.now() - timedelta(seconds=TIMEOUT * drift.LOST_MESSAGE_TIMEOUTS - 1)
    )
    assert drift.take_over_lost_checks() == []

    DriftCheck.objects.filter(pk=check.pk).update(
        started_at=timezone.now() - timedelta(seconds=TIMEOUT * drift.LOST_MESSAGE_TIMEOUTS + 1)
    )

    assert drift.take_over_lost_checks() == [(check.pk, claim)]
    check.refresh_from_db()
    assert check.takeovers == 0 and check.claim == claim
    assert drift.take_over_lost_checks() == [], "sent again once per LOST_MESSAGE_TIMEOUTS timeouts"


@pytest.mark.django_db
def test_a_check_claimed_before_claims_existed_is_sent_again_with_one(heartbeat):
    check, _ = _claimed()
    long_ago = timezone.now() - timedelta(seconds=TIMEOUT * drift.LOST_MESSAGE_TIMEOUTS + 1)
    DriftCheck.objects.filter(pk=check.pk).update(claim="", started_at=long_ago)

    [(sent, claim)] = drift.take_over_lost_checks()

    check.refresh_from_db()
    assert sent == check.pk and claim == check.claim != ""
    assert drift.startable(check.pk, claim) == check.tenant


def test_a_run_taken_over_while_it_went_on_records_nothing(sandbox_tenant, celery_worker, settings):
    """A worker that stalled past the timeout (its beat stopped) but whose run then ends: the check is another
    run's by then, so this one writes neither the outcome nor a timeline event."""
    activated_tenant(sandbox_tenant.info)
    sandbox_tenant.control.set_knobs(latency_ms=600)
    settings.ONRAMP_HEARTBEAT_TIMEOUT_SECONDS = 1
    settings.ONRAMP_HEARTBEAT_SECONDS = 3600  # the stalled run never beats
    now = timezone.now()
    drift.schedule_fleet(now, 0)
    [(check_id, claim)] = drift.claim_due(now)
    outcome: list[DriftCheck | None] = []
    stalled = threading.Thread(target=lambda: outcome.append(drift.run_check(check_id, claim)))
    stalled.start()
    time.sleep(1.5)
    assert stalled.is_alive(), "the check ended before it could be taken over"

    [(_, new_claim)] = drift.take_over_lost_checks()
    stalled.join(60)

    assert outcome == [None]
    check = DriftCheck.objects.get(pk=check_id)
    assert check.status == DriftCheckStatus.RUNNING and check.claim == new_claim and check.finished_at is None
    assert not AuditEvent.objects.filter(action=drift.DRIFT_ACTION).exists()

    settings.ONRAMP_HEARTBEAT_SECONDS = 1
    done = drift.run_check(check_id, new_claim)

    assert done is not None and done.status == DriftCheckStatus.DONE and done.findings == []
    assert list(AuditEvent.objects.filter(action=drift.DRIFT_ACTION).values_list("outcome", flat=True)) == ["none"]
