"""The room_list step when the organisation's admin makes the Exchange changes: the admin creates the room list (the
name and address this step's form gives, managed by the service account) in Exchange Online PowerShell, confirms,
and Onramp looks for it in Places by its address."""

from typing import Any

from tenants.models import Tenant
from wizard.models import StepState
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.services import exchange_online_scripts as scripts
from wizard.services.common import required_result, result_of
from wizard.services.connector import connector_clients
from wizard.services.places import not_checked, room_lists_checked
from wizard.steps import manual
from wizard.steps.exchange_online.room_list.service import STEP_ID, wanted_list
from wizard.steps.exchange_online.run_yourself import CHECKS, NEEDS_EXCHANGE, organization, run_yourself
from wizard.steps.exchange_online.service_account.result import ServiceAccountResult


def _inputs(tenant: Tenant) -> dict[str, Any]:
    state = StepState.objects.filter(tenant=tenant, step_id=STEP_ID).only("inputs").first()
    return dict(state.inputs) if state is not None else {}


def _manager(tenant: Tenant) -> str:
    return (result_of(tenant, ServiceAccountResult) or ServiceAccountResult()).user_principal_name


def missing_input(tenant: Tenant) -> str | None:
    if not _manager(tenant):
        return "Finish “Service account” first: the room list is managed by that account."
    return None


def script(tenant: Tenant) -> list[scripts.OnlineScriptLine]:
    wanted = wanted_list(tenant, _inputs(tenant))
    return scripts.room_list_script(
        organization(tenant), wanted["name"], wanted["alias"], wanted["address"], _manager(tenant)
    )


def perform(ctx: StepContext) -> Outcome:
    manager = required_result(ctx.tenant, ServiceAccountResult, "user_principal_name", "Service account")
    confirmed = manual.confirmation_recorded(ctx, script, manual.EXCHANGE_ONLINE_POWERSHELL)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    wanted = wanted_list(ctx.tenant, ctx.inputs)
    ctx.progress(50, f"Looking for {wanted['address']} in Places")
    with connector_clients(ctx.tenant) as ms:
        checks = room_lists_checked(ms.graph, [{"name": wanted["name"], "address": wanted["address"]}])
    checks += [
        not_checked("Its type (RoomList) and its manager", NEEDS_EXCHANGE + "; the script's last line shows them."),
        not_checked("Members that are not rooms", NEEDS_EXCHANGE + "; a new list has none."),
    ]
    return Done({**wanted, "manager": manager, **confirmed, CHECKS: checks})


RUN_YOURSELF = run_yourself(script, perform, missing_input=missing_input)
