"""Step 1: organisation customisation. A dehydrated tenant cannot hold management scopes or role assignments until
Enable-OrganizationCustomization has run and Exchange reports IsDehydrated false, which can take minutes. The same
read tells the admin where the tenant stands on EWS before its shutdown in Exchange Online, and whether the
integration's own app can call EWS now and after 1 April 2027: EwsEnabled and the app-id allow list EwsAllowedAppIDs
decide it (the older user-agent EwsAllowList does not). A non-empty EwsAllowedAppIDs applies when EwsEnabled is True;
Exchange returns the list only to Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy, as one comma-separated
value, and changes to it can take up to 24 hours to apply (Microsoft's "Control access to EWS in Exchange")."""

import time
from datetime import date
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_noop

from wizard.errors import StepError
from wizard.microsoft.errors import ExchangeCmdletError
from wizard.outcomes import Done, Outcome, StepContext, Wait
from wizard.services.common import poll_delay
from wizard.services.connector import connector_clients

# Microsoft says customisation usually finishes within minutes; past this, something is wrong on their side.
CUSTOMIZATION_TIMEOUT_SECONDS = 4 * 3600
# Microsoft's EWS retirement in Exchange Online: blocked by default unless allowed, then off for every tenant.
EWS_BLOCKED_BY_DEFAULT = date(2026, 10, 1)
EWS_SHUTDOWN = date(2027, 4, 1)
EWS_NOTE = (
    "Exchange Online blocks EWS by default from 1 October 2026 unless the organisation allows it, and switches it "
    "off for good on 1 April 2027. An integration that still uses EWS keeps working only until then; Microsoft "
    "Graph, scoped by the RBAC for Applications assignment Onramp sets up in step 5, is the way forward."
)


def default_ews_summary(today: date) -> str:
    if today < EWS_BLOCKED_BY_DEFAULT:
        return "EWS follows Microsoft's default: allowed until 1 October 2026, blocked from then on."
    if today < EWS_SHUTDOWN:
        return (
            "EWS follows Microsoft's default, which since 1 October 2026 blocks it: an integration that needs EWS "
            "must be allowed explicitly, and only until 1 April 2027."
        )
    return "EWS has been switched off in Exchange Online since 1 April 2027: only Graph-based integrations work."


def allowed_app_ids(config: dict[str, Any]) -> list[str]:
    """EwsAllowedAppIDs as a list of ids: Exchange takes the list as one comma-separated value
    (-EwsAllowedAppIDs "id1,id2") and may hand it back the same way."""
    values = config.get("EwsAllowedAppIDs") or []
    values = [values] if isinstance(values, str) else values
    return [part.strip() for value in values for part in str(value).split(",") if part.strip()]


def integration_ews(config: dict[str, Any], app_id: str, today: date) -> dict[str, Any]:
    """Whether the integration's app can call EWS today and after the shutdown, why, and what to do."""
    enabled = config.get("EwsEnabled")
    allowed = [value.lower() for value in allowed_app_ids(config)]
    listed = bool(app_id) and app_id.lower() in allowed
    app = app_id or "the integration's app"
    if today >= EWS_SHUTDOWN:
        works, why = False, "EWS in Exchange Online is switched off for every app since 1 April 2027."
    elif enabled is False:
        works, why = False, "EwsEnabled is False: EWS is switched off for this organisation."
    elif enabled is True and allowed and not listed:
        works, why = False, f"EwsAllowedAppIDs lists {len(allowed)} app(s) but not {app}: only listed apps may use EWS."
    elif enabled is True:
        works = True
        why = (
            f"EwsAllowedAppIDs lists {app}."
            if listed
            else "EwsEnabled is True and EwsAllowedAppIDs is empty: every app may use EWS."
        )
    elif today >= EWS_BLOCKED_BY_DEFAULT:
        works, why = False, "EwsEnabled is not set, which since 1 October 2026 means EWS is blocked."
    else:
        works, why = True, "EwsEnabled is not set, which allows EWS until 1 October 2026."
    graph = (
        "Move the integration to Microsoft Graph before 1 April 2027, when EWS stops for every app; the room scope "
        "Onramp sets up in step 5 already covers Graph calendars."
    )
    if works or today >= EWS_SHUTDOWN:
        fix = graph
    else:
        others = ", ".join(f"'{value}'" for value in allowed if value != app_id.lower())
        wanted = f"{others}, '{app_id}'" if others else f"'{app_id}'"
        fix = (
            "Only if the integration still needs EWS: Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs "
            f"{wanted} (the parameter replaces the whole list; it can take up to 24 hours to apply). " + graph
        )
    verdict = "works now" if works else "is blocked now"
    return {
        "integration_ews_now": works,
        "integration_ews_after_shutdown": False,
        "integration_ews_summary": f"EWS for the integration's app {verdict}: {why} After 1 April 2027 it will not "
        "work.",
        "integration_ews_fix": fix,
    }


def ews_state(config: dict[str, Any], app_id: str = "", today: date | None = None) -> dict[str, Any]:
    today = today or timezone.localdate()
    enabled = config.get("EwsEnabled")
    app_ids = allowed_app_ids(config)
    if enabled is False:
        summary = "EWS is switched off for this organisation: only Graph-based integrations will work."
    elif enabled is True and app_ids:
        summary = "EWS is allowed only for the application ids in EwsAllowedAppIDs (until the April 2027 shutdown)."
    elif config.get("EwsApplicationAccessPolicy") == "EnforceAllowList":
        summary = "EWS is allowed only for the applications in the organisation's allow list."
    elif enabled is True:
        summary = "EWS is explicitly allowed for this organisation (until the April 2027 shutdown)."
    else:
        summary = default_ews_summary(today)
    integration = integration_ews(config, app_id, today)
    return {
        "ews_enabled": enabled,
        "ews_application_access_policy": config.get("EwsApplicationAccessPolicy"),
        "ews_allow_list": config.get("EwsAllowList") or [],
        "ews_allowed_app_ids": app_ids,
        "ews_summary": f"{summary} {integration['integration_ews_summary']}",
        "ews_note": EWS_NOTE,
        **integration,
    }


# Enable-OrganizationCustomization on a customised organisation (public capture: MicrosoftDocs/office-docs-powershell
# issue 6497): a plain InvalidOperationException with this text, so the text tells it from other refusals.
ALREADY_CUSTOMISED_TEXT = "Organization is already enabled for customization"


def is_already_customised(error: ExchangeCmdletError) -> bool:
    return error.short_type == "InvalidOperationException" and ALREADY_CUSTOMISED_TEXT.lower() in error.message.lower()


def perform(ctx: StepContext) -> Outcome:
    with connector_clients(ctx.tenant) as ms:
        ctx.progress(20, "Reading the organisation configuration")
        config = ms.exchange.invoke_one("Get-OrganizationConfig", RetrieveEwsOperationAccessPolicy=True) or {}
        result = ews_state(config, ctx.tenant.integration_app_id)
        if not config.get("IsDehydrated"):
            return Done({**result, "is_dehydrated": False})
        requested_at = ctx.previous_result.get("customization_requested_at")
        if requested_at is None:
            ctx.progress(50, "Enabling organisation customisation")
            try:
                ms.exchange.invoke("Enable-OrganizationCustomization")
            except ExchangeCmdletError as error:
                if not is_already_customised(error):
                    raise
                # Exchange itself says customisation is done; IsDehydrated was read from a replica that lags.
                return Done({**result, "is_dehydrated": False, "customization_confirmed_at": time.time()})
            requested_at = time.time()
    waited = time.time() - requested_at
    if waited > CUSTOMIZATION_TIMEOUT_SECONDS:
        raise StepError(
            code="customization_timeout",
            message=f"Exchange still reports IsDehydrated after {int(waited // 60)} minutes.",
            explanation=gettext_noop("Enable-OrganizationCustomization normally completes within minutes."),
            fix=gettext_noop(
                "Run Get-OrganizationConfig | Format-List IsDehydrated in Exchange Online PowerShell; if it stays "
                "True, open a Microsoft support case, then retry this step."
            ),
        )
    return Wait(
        seconds=poll_delay(waited),
        waiting_for="Exchange Online to finish enabling organisation customisation (usually a few minutes)",
        result={**result, "is_dehydrated": True, "customization_requested_at": requested_at},
    )


def verify(ctx: StepContext) -> dict[str, Any]:
    with connector_clients(ctx.tenant) as ms:
        config = ms.exchange.invoke_one("Get-OrganizationConfig", RetrieveEwsOperationAccessPolicy=True) or {}
    confirmed_at = ctx.previous_result.get("customization_confirmed_at")
    if (
        config.get("IsDehydrated")
        and confirmed_at is not None
        and time.time() - confirmed_at < CUSTOMIZATION_TIMEOUT_SECONDS
    ):
        # Exchange answered "already enabled" recently: this read comes from a replica that has not caught up yet.
        return {**ews_state(config, ctx.tenant.integration_app_id), "is_dehydrated": False}
    if config.get("IsDehydrated"):
        raise StepError(
            code="still_dehydrated",
            message=gettext_noop("Exchange Online still reports IsDehydrated true."),
            fix=gettext_noop("Run this step again; it enables customisation and waits for it."),
        )
    return {
        **ews_state(config, ctx.tenant.integration_app_id),
        "is_dehydrated": False,
        "customization_requested_at": None,
    }
