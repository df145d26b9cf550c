"""The verify step when the organisation's admin makes the Exchange changes: without InvokeCommand, the proof is the
integration's own calendar reads (Graph, as the integration's app): every room it must reach opens, and the control
mailbox, which is not a room, stays closed. The app's grants are read from Entra ID (Graph) and the room lists from
Places; the lists' members, the scope's filter and the app's Exchange role assignments need Exchange, and the result
names them as not checked."""

import contextvars
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

from django.utils.translation import gettext_noop

from tenants.models import SecretKind
from tenants.secrets import has_secret
from wizard.errors import StepError
from wizard.microsoft import integration_clients
from wizard.models import MembershipStatus, Room
from wizard.outcomes import Outcome, StepContext
from wizard.services.common import required_result, result_of
from wizard.services.connector import connector_clients
from wizard.services.grants import entra_grants
from wizard.services.places import lists_in_places
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.run_yourself import NEEDS_EXCHANGE, reads_only
from wizard.steps.exchange_online.scoped_access.result import ScopedAccessResult
from wizard.steps.exchange_online.service_account.result import ServiceAccountResult
from wizard.steps.exchange_online.verify.service import read_calendars, report


def secret_needed() -> StepError:
    return StepError(
        code="integration_secret_needed",
        message=gettext_noop(
            "Verify needs the integration's client secret while you make the Exchange changes yourself."
        ),
        explanation=gettext_noop(
            "Without InvokeCommand, Onramp cannot read the scope or the room lists from Exchange: reading"
            " each room's calendar as the integration (and being refused the control mailbox's) is the only proof left."
        ),
        fix=gettext_noop("Enter the integration's client secret in step 0, then run Verify again."),
    )


def _not_run(name: str, why: str) -> dict[str, object]:
    return {"name": name, "ran": False, "detail": why}


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    app_id = required_result(tenant, ScopedAccessResult, "app_id", "Scoped access")
    scoped = result_of(tenant, ScopedAccessResult) or ScopedAccessResult(app_id=app_id)
    control = (ctx.inputs.get("control_mailbox") or "").lower() or required_result(
        tenant, ServiceAccountResult, "user_principal_name", "Service account"
    )
    if not has_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET):
        raise secret_needed()
    rooms = list(Room.objects.filter(tenant=tenant).exclude(membership_status=MembershipStatus.PENDING))
    addresses = [room.address for room in rooms]
    lists = [entry.to_json() for entry in (result_of(tenant, RoomsResult) or RoomsResult()).lists]
    total = len(addresses) + 1
    read = 0

    def progress(count: int) -> None:
        nonlocal read
        read += count
        ctx.progress(5 + int(80 * read / total), f"Read {read} of {total} calendars as the integration")

    with integration_clients(tenant) as app, ThreadPoolExecutor(1, thread_name_prefix="onramp-verify") as side:
        seen = side.submit(contextvars.copy_context().run, lists_in_places, app.graph, lists)
        calendar = read_calendars(app, [*addresses, control], progress)
        places = seen.result()
    ctx.progress(90, "Reading the integration's permissions in Entra ID")
    with connector_clients(tenant) as ms:
        findings = [
            asdict(found) for found in entra_grants(ms.graph, scoped.service_principal_object_id, app_id, scoped.app_id)
        ]
    # In scope by the admin's confirmed commands (not read from Exchange): the calendar read decides each room.
    scope: dict[str, bool | None] = {address: True for address in addresses}
    scope[control] = False
    checks = [
        {"name": "calendar_read", "ran": True, "detail": "as the integration's app, through Graph"},
        {"name": "entra_grants", "ran": True, "detail": "the app's application permissions in Entra ID"},
        _not_run("room_list_members", NEEDS_EXCHANGE + ": a member that is not a room cannot be found this way"),
        _not_run("rbac_assignments", NEEDS_EXCHANGE + ": another role assignment of the app cannot be found"),
        _not_run("ews_control_read", "EWS settings are read through InvokeCommand, which Onramp does not call"),
    ]
    grants = {
        "findings": findings,
        "widening": [found for found in findings if found["widens"]],
        "checks": checks,
        "ews": False,
    }
    in_scope = {"non_room_members": [], "unplaced_rooms": []}
    return report(ctx, rooms, scope, calendar, control, set(addresses), in_scope, grants, places)


RUN_YOURSELF = reads_only(perform)
