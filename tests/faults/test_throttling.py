"""A full run with 30 % of calls throttled (429) and bursts of 503: every step succeeds, no room fails, and every
request refused with `Retry-After: R` is sent again no sooner than R seconds later (seen from the sandbox)."""

from tests.faults.helpers import ADMIN, STEP_INPUTS, finished, room_placement, run_step, step, step_ids
from tests.helpers import wait_for
from wizard import engine
from wizard.models import AuditEvent, MembershipStatus, Room, StepStatus, VerificationStatus

ROOMS = 160  # three room lists
BURST_FAULTS = 6  # 503s in a row while every call fails


def _burst_of_503(sandbox) -> None:
    """Every call answers 503 until the sandbox has refused BURST_FAULTS more, then back to normal."""
    before = sandbox.control.calls()["faults"]
    sandbox.control.set_knobs(error_fraction=1.0)
    wait_for(lambda: sandbox.control.calls()["faults"] - before >= BURST_FAULTS, 60, what="a burst of 503s")
    sandbox.control.set_knobs(error_fraction=0.0)


def test_full_run_under_throttling_and_503_bursts(celery_worker, make_sandbox, connected_tenant, retry_after_recorder):
    sandbox = make_sandbox(rooms=ROOMS, throttle_fraction=0.3, latency_ms=20)
    tenant = connected_tenant(sandbox.info)
    for step_id in step_ids(tenant):
        if step_id in ("rooms", "verify"):
            engine.enqueue_step(tenant, step_id, ADMIN, inputs=STEP_INPUTS.get(step_id))
            _burst_of_503(sandbox)
            finished(tenant, step_id, timeout=240)
        else:
            run_step(tenant, step_id, timeout=240)

    assert all(
        state.status == StepStatus.SUCCEEDED for state in tenant.step_states.filter(step_id__in=step_ids(tenant))
    )
    rooms = Room.objects.filter(tenant=tenant)
    assert rooms.count() == ROOMS
    assert not rooms.exclude(membership_status=MembershipStatus.MEMBER).exists()
    assert not rooms.exclude(verification_status=VerificationStatus.PASS).exists()
    placement = room_placement(sandbox.control.state())
    assert placement.lost == [] and placement.duplicated == []

    calls = sandbox.control.calls()
    assert calls["throttled"] >= 10 and calls["faults"] >= 2 * BURST_FAULTS  # the faults really happened
    assert retry_after_recorder.refusals == calls["throttled"] + calls["faults"]  # every refusal said Retry-After
    assert retry_after_recorder.retried >= 10
    assert retry_after_recorder.violations == []


def test_a_throttled_step_says_microsoft_is_busy(celery_worker, make_sandbox, connected_tenant):
    sandbox = make_sandbox()
    tenant = connected_tenant(sandbox.info)
    sandbox.control.set_knobs(throttle_fraction=1.0)  # every Graph and Exchange call answers 429, Retry-After: 1

    engine.enqueue_step(tenant, "connect", ADMIN)

    said = wait_for(
        lambda: "attempt 3" in (message := step(tenant, "connect").progress_message) and message,
        60,
        what="the progress panel to say Microsoft is busy",
    )
    assert said == "Microsoft is busy (HTTP 429): waiting 1 s as it asked, attempt 3"
    sandbox.control.set_knobs(throttle_fraction=0.0)
    assert finished(tenant, "connect", timeout=60).status == StepStatus.SUCCEEDED
    # One event for the streak, however many times the call waited.
    busy = AuditEvent.objects.filter(tenant=tenant, action="microsoft_busy")
    assert [(event.step_id, event.outcome, event.detail) for event in busy] == [
        (
            "connect",
            "waiting",
            {
                "service": "graph",
                "status": 429,
                "message": "Microsoft is busy (HTTP 429): waiting 1 s as it asked, attempt 2",
            },
        )
    ]
    assert sandbox.control.calls()["throttled"] >= 2
