"""The scoped_access step when the organisation's admin makes the Exchange changes: Onramp finds the integration's
app in Entra ID (Graph), the admin runs the RBAC for Applications commands (the app's Exchange service principal,
one management scope over every room list's members, its filter read from each list's distinguished name, and one
role assignment limited to it), confirms, and Onramp checks the app's grants in Entra ID (Graph). The scope and the
assignment themselves are proven by “Verify”, which reads the calendars as the integration."""

import dataclasses
import time
from typing import Any

from django.utils.translation import gettext_noop

from tenants.models import Tenant
from wizard.errors import StepError
from wizard.models import StepState
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.services import exchange_online_scripts as scripts
from wizard.services import grants
from wizard.services.common import required_result, result_of
from wizard.services.connector import connector_clients
from wizard.services.places import checked, not_checked
from wizard.steps import manual
from wizard.steps.exchange_online.room_list.result import RoomListResult
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.run_yourself import CHECKS, NEEDS_EXCHANGE, organization, run_yourself
from wizard.steps.exchange_online.scoped_access.service import (
    ROLE,
    STEP_ID,
    entra_service_principal,
    scope_name,
    wider_access_error,
)

APP_NAME = "app_name"
LOOK_UP_FIRST = "Run this step first: Onramp finds the integration's app in Entra ID to write its commands."


def _saved(tenant: Tenant) -> dict[str, Any]:
    state = StepState.objects.filter(tenant=tenant, step_id=STEP_ID).only("result").first()
    return dict(state.result) if state is not None else {}


def assignment_name(tenant: Tenant) -> str:
    return f"{scope_name(tenant)} calendars"


def list_addresses(tenant: Tenant) -> list[str]:
    """Every room list's address, the first list first: those the rooms step planned, else the first alone."""
    first = (result_of(tenant, RoomListResult) or RoomListResult()).address
    planned = [entry.address for entry in (result_of(tenant, RoomsResult) or RoomsResult()).lists]
    return list(dict.fromkeys(address for address in [first, *planned] if address))


def missing_input(tenant: Tenant) -> str | None:
    if not _saved(tenant).get("service_principal_object_id"):
        return LOOK_UP_FIRST
    names = [(result_of(tenant, RoomListResult) or RoomListResult()).name]
    names += [entry.name for entry in (result_of(tenant, RoomsResult) or RoomsResult()).lists]
    if any("'" in name for name in names):
        return (
            "Rename the room lists without a single quote (Set-DistributionGroup -Name): the scope's filter quotes"
            " each list's distinguished name, which Exchange builds from its name."
        )
    return None


def script(tenant: Tenant) -> list[scripts.OnlineScriptLine]:
    saved = _saved(tenant)
    return scripts.scoped_access_script(
        organization(tenant),
        app_id=tenant.integration_app_id,
        service_principal_object_id=str(saved.get("service_principal_object_id") or ""),
        app_name=str(saved.get(APP_NAME) or tenant.integration_app_id),
        scope_name=scope_name(tenant),
        assignment_name=assignment_name(tenant),
        role=ROLE,
        list_addresses=list_addresses(tenant),
    )


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    app_id = tenant.integration_app_id
    if not app_id:
        raise StepError(
            code="integration_app_missing",
            message=gettext_noop("The integration's application id is not set."),
            fix=gettext_noop("Enter the integration's application (client) id in step 0, then run this step."),
        )
    required_result(tenant, RoomsResult, "lists", "Rooms")
    sp_id = ctx.previous_result.get("service_principal_object_id")
    if not sp_id or ctx.previous_result.get("app_id") != app_id:
        ctx.progress(20, "Looking up the integration's app in Entra ID")
        with connector_clients(tenant) as ms:
            principal = entra_service_principal(ms.graph, app_id)
        found = {
            "app_id": app_id,
            "service_principal_object_id": principal["id"],
            APP_NAME: principal.get("displayName") or app_id,
        }
        asked = f"Run the commands shown on this page in {manual.EXCHANGE_ONLINE_POWERSHELL}, then confirm."
        return NeedsInput(asked, found)
    confirmed = manual.confirmation_recorded(ctx, script, manual.EXCHANGE_ONLINE_POWERSHELL)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    app_name = str(ctx.previous_result.get(APP_NAME) or app_id)
    ctx.progress(60, "Checking the integration's permissions in Entra ID")
    with connector_clients(tenant) as ms:
        findings = [dataclasses.asdict(found) for found in grants.entra_grants(ms.graph, sp_id, app_id, app_name)]
    widening = [finding for finding in findings if finding["widens"]]
    result = {
        "app_id": app_id,
        "service_principal_object_id": sp_id,
        APP_NAME: app_name,
        "scope_name": scope_name(tenant),
        "role": ROLE,
        "role_assignment": assignment_name(tenant),
        "tenant_wide_calendar_roles": sorted({f["permission"] for f in widening}),
        "grants": {"findings": findings, "checks": []},
        # The admin's run is when access changed: verify waits on Microsoft's RBAC cache from here.
        "access_changed_at": time.time(),
        **confirmed,
        CHECKS: [
            checked(
                "No application permission in Entra ID opens every mailbox",
                not widening,
                grants.describe(widening) if widening else "",
            ),
            not_checked("The management scope's filter names every room list", NEEDS_EXCHANGE + "."),
            not_checked(f"The {ROLE} assignment uses the scope", NEEDS_EXCHANGE + "; “Verify” proves it."),
            not_checked("No other Exchange role assignment widens the app's reach", NEEDS_EXCHANGE + "."),
        ],
    }
    if widening:
        raise wider_access_error("tenant_wide_calendar_access", widening, result)
    return Done(result)


RUN_YOURSELF = run_yourself(script, perform, missing_input=missing_input)
