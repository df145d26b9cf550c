"""Verify at one call per room, counted by the sandbox (`/calls`): each room's calendar read as the integration is
the ground truth; Exchange admin calls go to the lists (once each), the control mailbox, and only the rooms that
fail. Without the integration's secret, a bounded number of calls derive the scope from the lists."""

from tenants.models import SecretKind
from tenants.secrets import erase_secret
from tests.factories import connected_tenant
from wizard.models import Room, StepStatus, VerificationStatus
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

ALL_ROOMS = {"rooms": all_rooms_inputs(confirmed=True)}
ROOMS = 160  # three lists of at most 75
CALENDAR_READ = "GET /users/{id}/calendar"
# Calls whose number does not grow with the rooms: the grant audit (Graph and Exchange), the room directory
# (one page per thousand rooms), the control mailbox's scope, the room scope's filter.
FIXED_CALLS_AT_MOST = 20


def _service_calls(calls: dict[str, int]) -> dict[str, int]:
    """Calls to Graph, the Exchange admin API and EWS: not the identity platform, not a $batch's envelope (each
    request inside it is counted on its own)."""
    return {
        key: n
        for key, n in calls.items()
        if not key.startswith(("GET /{tenant}", "POST /{tenant}", "identity", "POST /$batch"))
    }


def _verified(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=ROOMS, equipment=0, users=2)
    tenant = connected_tenant(sandbox.info)
    assert run_steps(tenant, until="scoped_access", inputs=ALL_ROOMS).finished
    sandbox.control.reset_calls()
    return sandbox, tenant


def test_the_happy_path_reads_each_calendar_once_and_asks_exchange_only_about_lists(make_sandbox, run_steps):
    sandbox, tenant = _verified(make_sandbox, run_steps)

    outcome = run_steps(tenant, start="verify", until="verify")

    assert outcome.finished, outcome.stopped_at and outcome.stopped_at.error_message
    every = sandbox.control.calls()["calls"]
    calls = _service_calls(every)
    assert calls[CALENDAR_READ] == ROOMS + 1  # every room, and the control mailbox
    # Read beside the Exchange reads, in full batches of twenty: nine $batch requests, not twenty-one of eight.
    assert every["POST /$batch"] == -(-(ROOMS + 1) // 20), every["POST /$batch"]
    assert calls["Get-DistributionGroupMember"] == 3  # once per list
    assert calls["Test-ServicePrincipalAuthorization"] == 1  # the control mailbox only
    fixed = sum(calls.values()) - calls[CALENDAR_READ] - calls["Get-DistributionGroupMember"]
    assert fixed <= FIXED_CALLS_AT_MOST, calls
    print(f"\nverify of {ROOMS} rooms: {sum(calls.values())} calls ({sum(calls.values()) / ROOMS:.3f} a room): {calls}")
    assert Room.objects.filter(tenant=tenant, verification_status=VerificationStatus.PASS).count() == ROOMS


def test_a_room_that_fails_is_explained_by_exchange_alone(make_sandbox, run_steps):
    sandbox, tenant = _verified(make_sandbox, run_steps)
    [removed, *_] = sorted(Room.objects.filter(tenant=tenant).values_list("address", flat=True))
    [first_list] = [g for g in sandbox.control.state()["groups"] if removed in [m.lower() for m in g["members"]]]
    sandbox.control.invoke(
        "Remove-DistributionGroupMember",
        Identity=first_list["name"],
        Member=removed,
        BypassSecurityGroupManagerCheck=True,
    )
    sandbox.control.reset_calls()

    failed = run_steps(tenant, start="verify", until="verify").stopped_at

    assert failed.status == StepStatus.FAILED and failed.error_code == "verification_failed"
    calls = _service_calls(sandbox.control.calls()["calls"])
    assert calls[CALENDAR_READ] == ROOMS + 1
    assert calls["Test-ServicePrincipalAuthorization"] == 2  # the control mailbox, and the room that failed
    room = Room.objects.get(tenant=tenant, address=removed)
    assert room.verification_status == VerificationStatus.FAIL
    assert room.reason.startswith("Not in the scope of Application Calendars.ReadWrite")


def test_without_the_integrations_secret_the_scope_is_derived_from_the_lists(make_sandbox, run_steps):
    sandbox, tenant = _verified(make_sandbox, run_steps)
    erase_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET)

    outcome = run_steps(tenant, start="verify", until="verify")

    assert outcome.finished, outcome.stopped_at and outcome.stopped_at.error_message
    calls = _service_calls(sandbox.control.calls()["calls"])
    assert CALENDAR_READ not in calls
    assert calls["Get-ManagementScope"] == 1
    assert calls["Test-ServicePrincipalAuthorization"] == 1  # the control mailbox only
    assert sum(calls.values()) - calls["Get-DistributionGroupMember"] <= FIXED_CALLS_AT_MOST, calls
    result = tenant.step_states.get(step_id="verify").result
    assert result["rooms_passed"] == ROOMS and not result["calendar_checked"]
    assert any(
        line.startswith("calendar_read: the integration's client secret is not stored")
        for line in result["checks_not_run"]
    )
