"""What Onramp does for the activate step of Exchange Server."""

from django.db import transaction

from tenants.models import SecretKind, TenantStatus
from tenants.secrets import erase_secret
from wizard.audit import record_event
from wizard.outcomes import Done, Outcome, StepContext
from wizard.services.common import required_result, result_of
from wizard.steps.exchange_server.common import room_list_addresses
from wizard.steps.exchange_server.connect.result import ExchangeServerConnectResult
from wizard.steps.exchange_server.scoped_access.result import ExchangeServerScopedAccessResult
from wizard.steps.exchange_server.verify.result import ExchangeServerVerifyResult


# -- activate ---------------------------------------------------------------------------------------------------
def perform(ctx: StepContext) -> Outcome:
    """What the integration needs, the tenant marked active, and the service account's password erased."""
    tenant = ctx.tenant
    required_result(tenant, ExchangeServerVerifyResult, "passed", "Verify")
    connected = result_of(tenant, ExchangeServerConnectResult) or ExchangeServerConnectResult()
    scoped = result_of(tenant, ExchangeServerScopedAccessResult) or ExchangeServerScopedAccessResult()
    summary = {
        "ews_url": connected.ews_url,
        "service_account_upn": connected.service_account_upn,
        "room_lists": room_list_addresses(tenant),
        "management_scope": scoped.scope_name,
    }
    with transaction.atomic():
        erased = erase_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD)
        tenant.status = TenantStatus.ACTIVE
        tenant.save(update_fields=["status", "updated_at"])
        record_event(tenant, ctx.actor, "activate", "active", "activate", {"password_erased": erased})
    return Done({"summary": summary, "password_erased": erased})
