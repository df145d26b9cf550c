"""The drift check against a real sandbox tenant: an untouched organisation has no drift and nothing is written;
each kind of drift is found, named with its fix and put on the timeline; only what is new is told again."""

from django.utils import timezone

from tenants.models import SecretKind
from tenants.secrets import erase_secret
from tests.factories import activated_tenant, state_of
from tests.helpers import wait_for
from wizard import actions, drift
from wizard.models import AuditEvent, DriftCheckStatus, StepStatus
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS


def _list_dn(tenant) -> str:
    return state_of(tenant, "rooms").result["lists"][0]["dn"]


def _kinds(check) -> dict[str, dict]:
    return {finding["kind"]: finding for finding in check.findings}


def test_an_untouched_organisation_has_not_drifted_and_the_check_writes_nothing(sandbox_tenant, celery_worker):
    tenant = activated_tenant(sandbox_tenant.info)
    sandbox_tenant.control.reset_calls()

    check = drift.check_now(tenant, "test")

    assert check.status == DriftCheckStatus.DONE, check.error_message
    assert check.findings == []
    calls = sandbox_tenant.control.calls()
    assert calls["writes"] == 0, calls["write_calls"]
    assert AuditEvent.objects.filter(tenant=tenant, action="drift", outcome="none").count() == 1


def test_rooms_in_no_list_an_oversized_list_a_person_and_a_wider_grant_are_found(sandbox_tenant, celery_worker):
    control = sandbox_tenant.control
    tenant = activated_tenant(sandbox_tenant.info)
    dn = _list_dn(tenant)
    removed = "room-001@" + tenant_domain(sandbox_tenant)
    control.invoke("Remove-DistributionGroupMember", Identity=dn, Member=removed, BypassSecurityGroupManagerCheck=True)
    added = [control.add_mailbox("room", alias=f"new-room-{n:02d}")["userPrincipalName"].lower() for n in range(59)]
    for address in added[:57]:  # 19 left + 57 = 76 rooms, and a person: 77 members
        control.invoke("Add-DistributionGroupMember", Identity=dn, Member=address, BypassSecurityGroupManagerCheck=True)
    person = "user-001@" + tenant_domain(sandbox_tenant)
    control.invoke("Add-DistributionGroupMember", Identity=dn, Member=person, BypassSecurityGroupManagerCheck=True)
    control.grant_permission("Calendars.Read", app_id=sandbox_tenant.info["integration_app_id"])

    check = drift.check_now(tenant, "test")

    assert check.status == DriftCheckStatus.DONE, check.error_message
    found = _kinds(check)
    assert set(found) == {"new_rooms", "rooms_out_of_lists", "oversized_lists", "non_room_members", "wider_grants"}
    assert found["new_rooms"]["addresses"] == sorted(added[57:]) and found["new_rooms"]["count"] == 2
    assert found["rooms_out_of_lists"]["addresses"] == [removed]
    assert f"more than {ROOM_LIST_MAX_MEMBERS} members" in found["oversized_lists"]["summary"]
    assert "(77)" in found["oversized_lists"]["summary"]
    assert found["non_room_members"]["addresses"] == [f"{person} (UserMailbox)"]
    assert "Calendars.Read" in found["wider_grants"]["summary"] and found["wider_grants"]["fix"]
    events = AuditEvent.objects.filter(tenant=tenant, action="drift")
    assert set(events.values_list("outcome", flat=True)) == set(found)
    assert drift.new_rooms(tenant) == sorted(added[57:])
    assert drift.new_findings(check) == check.findings

    again = drift.check_now(tenant, "test")

    assert again.findings == check.findings
    assert drift.new_findings(again) == []


def test_a_scope_that_no_longer_matches_and_calendars_no_longer_readable_are_found(sandbox_tenant, celery_worker):
    control = sandbox_tenant.control
    tenant = activated_tenant(sandbox_tenant.info)
    scope = state_of(tenant, "scoped_access").result["scope_name"]
    [other] = control.invoke("New-DistributionGroup", Name="Other rooms", Alias="other-rooms", RoomList=True)
    control.invoke(
        "Set-ManagementScope",
        Identity=scope,
        RecipientRestrictionFilter=f"MemberOfGroup -eq '{other['DistinguishedName']}'",
    )

    check = drift.check_now(tenant, "test")

    found = _kinds(check)
    assert set(found) == {"scope_mismatch", "unreadable_calendars"}, check.findings
    assert "no longer names exactly the room lists" in found["scope_mismatch"]["summary"]
    assert found["unreadable_calendars"]["count"] == 20


def test_a_check_that_cannot_reach_microsoft_says_so_and_is_not_clean(sandbox_tenant, celery_worker):
    tenant = activated_tenant(sandbox_tenant.info)
    sandbox_tenant.stop()

    check = drift.check_now(tenant, "test")

    assert check.status == DriftCheckStatus.FAILED and check.error_message
    assert check.findings == [] and drift.latest_check(tenant) == check
    assert AuditEvent.objects.filter(tenant=tenant, action="drift", outcome="check_failed").exists()


def tenant_domain(sandbox) -> str:
    return sandbox.info["domain"]


def test_without_the_integration_secret_the_check_says_calendars_were_not_read(sandbox_tenant, celery_worker):
    tenant = activated_tenant(sandbox_tenant.info)
    erase_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET)

    check = drift.check_now(tenant, "test")

    assert check.status == DriftCheckStatus.DONE, check.error_message
    assert check.findings == [] and not check.drifted
    [reason] = check.not_checked
    assert reason.startswith("Calendar reads as the integration were not possible: no integration secret stored")
    event = AuditEvent.objects.get(tenant=tenant, action="drift", outcome="not_checked")
    assert event.detail["message"] == reason


def test_new_rooms_placed_in_a_new_list_reach_the_scope_and_are_verified_without_another_request(
    sandbox_tenant, celery_worker
):
    control = sandbox_tenant.control
    tenant = activated_tenant(sandbox_tenant.info)
    added = [control.add_mailbox("room", alias=f"new-room-{n:02d}")["userPrincipalName"].lower() for n in range(56)]
    assert drift.check_now(tenant, "test").status == DriftCheckStatus.DONE
    placed_at = timezone.now()

    actions.place_new_rooms(tenant, "test", drift.new_rooms(tenant))

    activated = wait_for(
        lambda: (
            (state := state_of(tenant, "activate")).finished_at
            and state.finished_at > placed_at
            and state.status == StepStatus.SUCCEEDED
        ),
        180,
        what="rooms, scoped access, verify and activate to run one after another",
    )
    assert activated, [(s.step_id, s.status, s.error_message) for s in tenant.step_states.all()]
    new_list = state_of(tenant, "rooms").result["lists"][1]
    assert new_list["dn"] in state_of(tenant, "scoped_access").result["room_list_dns"]
    assert drift.lists_outside_scope(tenant) == []
    assert state_of(tenant, "verify").status == StepStatus.SUCCEEDED
    [room, *_] = [
        m["PrimarySmtpAddress"].lower() for m in control.invoke("Get-DistributionGroupMember", Identity=new_list["dn"])
    ]
    assert room in added
    rows = control.invoke(
        "Test-ServicePrincipalAuthorization", Identity=sandbox_tenant.info["integration_app_id"], Resource=room
    )
    assert any(row["InScope"] is True for row in rows), rows
