"""What Onramp does for the verify step of Exchange Server."""

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_noop

from tenants.models import Tenant
from wizard.errors import StepError
from wizard.microsoft import (
    CalendarAccess,
    parallel,
)
from wizard.models import MembershipStatus, Room, StepState, VerificationStatus
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext, Wait
from wizard.services.common import poll_delay, required_result
from wizard.steps.exchange_server.common import (
    FAILURES_KEPT,
    IMPERSONATION_REFUSALS,
    RBAC_CACHE_SECONDS,
    ews_client,
    service_account,
)
from wizard.steps.exchange_server.scoped_access.result import ExchangeServerScopedAccessResult


# -- verify -----------------------------------------------------------------------------------------------------
def perform(ctx: StepContext) -> Outcome:
    """GetFolder of each room's calendar as the room (must open) and of the control mailbox (must be refused)."""
    tenant = ctx.tenant
    required_result(tenant, ExchangeServerScopedAccessResult, "scope_name", "Scoped access")
    control = str(ctx.inputs.get("control_mailbox") or "").strip().lower()
    if not control:
        return NeedsInput(
            gettext_noop("Enter a mailbox that is neither a room nor the service account: the control mailbox.")
        )
    if control == service_account(tenant).lower():
        # Whether Exchange lets an account impersonate itself is undocumented: its refusal would prove nothing.
        raise StepError(
            code="control_is_service_account",
            message=gettext_noop("The control mailbox is the service account itself."),
            explanation=gettext_noop(
                "Verify proves the scope by a mailbox the service account must be refused; Exchange does not "
                "document whether an account may impersonate itself, so its own mailbox proves nothing."
            ),
            fix=gettext_noop("Enter another existing mailbox that is not a room (a person's or a shared mailbox)."),
        )
    client = ews_client(tenant)
    rooms = list(Room.objects.filter(tenant=tenant, membership_status=MembershipStatus.MEMBER))
    if not rooms:
        raise StepError(
            code="no_rooms",
            message=gettext_noop("There are no rooms to verify."),
            explanation=gettext_noop("The rooms step records the rooms the admin added to the room lists."),
            fix=gettext_noop("Run the rooms step first."),
        )
    total = len(rooms) + 1
    done = 0
    failures: list[dict[str, str]] = []

    def record(outcome: Any) -> None:
        nonlocal done
        done += 1
        room: Room = outcome.item
        access: CalendarAccess | None = outcome.value
        if access is not None and access.opened:
            room.verification_status, room.reason = VerificationStatus.PASS, ""
        else:
            room.verification_status = VerificationStatus.FAIL
            room.reason = (access.reason if access is not None else _error_reason(outcome.error))[:500]
            failures.append({"address": room.address, "reason": room.reason})
        room.save(update_fields=["verification_status", "reason", "updated_at"])
        ctx.progress(int(done * 100 / total), f"Checked {done} of {total} mailboxes")

    parallel(lambda room: client.calendar_access(room.address), rooms, on_done=record)
    control_access = client.calendar_access(control)
    passed = len(rooms) - len(failures)
    result = {
        "rooms_passed": passed,
        "rooms_failed": len(failures),
        "control_mailbox": control,
        "control_code": control_access.code,
        "control_reason": control_access.reason,
    }
    if not control_access.denied:
        raise StepError(
            code="control_mailbox_not_denied",
            message=f"The control mailbox {control} answered {control_access.code}, not a refusal.",
            explanation=(
                "The service account can impersonate a mailbox that is not a room: the scope is wider than the room"
                " lists (or the role was assigned without -CustomRecipientWriteScope)."
                if control_access.opened
                else f"Onramp could not prove the control mailbox is out of reach: {control_access.explanation}"
            ),
            fix=gettext_noop(
                "Check Get-ManagementRoleAssignment -Role ApplicationImpersonation for assignments without the"
                " scope, or choose an existing mailbox that is not a room as the control mailbox."
            ),
            extra=result,
        )
    waiting = _waiting_for_rbac_cache(tenant, rooms, failures, result)
    if waiting is not None:
        return waiting
    if failures:
        raise StepError(
            code="rooms_not_reachable",
            message=f"{len(failures)} of {len(rooms)} rooms cannot be opened by the service account.",
            explanation=gettext_noop(
                "Each failing room is listed with Exchange's answer. A room outside every room list in the"
                " scope answers ErrorImpersonateUserDenied."
            ),
            fix=gettext_noop(
                "Add the rooms to a room list (rooms step) or run the scoped-access commands again, then re-verify."
            ),
            extra={**result, "failures": failures[:FAILURES_KEPT]},
        )
    return Done({**result, "passed": True})


def _waiting_for_rbac_cache(
    tenant: Tenant, rooms: list[Room], failures: list[dict[str, str]], result: dict[str, Any]
) -> Wait | None:
    """A Wait when every failing room was refused impersonation and the scoped-access commands were confirmed so
    recently that Exchange may still be answering from its cached role assignments."""
    if not failures or any(entry["reason"].split(":", 1)[0] not in IMPERSONATION_REFUSALS for entry in failures):
        return None
    granted_at = (
        StepState.objects.filter(tenant=tenant, step_id="scoped_access").values_list("finished_at", flat=True).first()
    )
    if granted_at is None:
        return None
    age = (timezone.now() - granted_at).total_seconds()
    if age > RBAC_CACHE_SECONDS:
        return None
    return Wait(
        seconds=poll_delay(age, first=30, longest=300),
        waiting_for=f"Exchange to pick up the new ApplicationImpersonation assignment: {len(failures)} of"
        f" {len(rooms)} room(s) still refused. Exchange Server caches role assignments, so a new one can take a"
        f" while to apply; Onramp checks again by itself (for up to {RBAC_CACHE_SECONDS // 3600} hours after scoped"
        " access).",
        result={**result, "failures": failures[:FAILURES_KEPT]},
    )


def _error_reason(error: BaseException | None) -> str:
    if isinstance(error, StepError):
        return f"{error.code}: {error.explanation or error.message}"
    return f"{type(error).__name__}: the check could not run."
