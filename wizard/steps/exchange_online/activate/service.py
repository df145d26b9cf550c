"""Step 7: activate. The summary the integration needs (tenant id, service account, room lists, app id), an optional
signed webhook to the integration, the service account's password erased, and the tenant marked active.

The webhook body is JSON; `X-Onramp-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact body bytes with the
tenant's webhook secret. A failed delivery is retried with back-off by re-scheduling the step (no worker sleeps);
after the last attempt the step still succeeds, with the delivery recorded as failed."""

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import requests
from django.db import transaction
from django.utils.translation import gettext_noop

from tenants.models import SecretKind, Tenant, TenantStatus
from tenants.secrets import erase_secret, read_secret
from wizard.audit import record_event
from wizard.errors import StepError
from wizard.models import Room, VerificationStatus
from wizard.outcomes import Done, Outcome, StepContext, Wait
from wizard.services import webhooks
from wizard.services.common import required_result, result_of
from wizard.steps.exchange_online.connect.result import ConnectResult
from wizard.steps.exchange_online.rooms.result import RoomsResult
from wizard.steps.exchange_online.scoped_access.result import ScopedAccessResult
from wizard.steps.exchange_online.service_account.result import ServiceAccountResult
from wizard.steps.exchange_online.verify.result import VerifyResult

STEP_ID = "activate"
SIGNATURE_HEADER = "X-Onramp-Signature"
WEBHOOK_TIMEOUT_SECONDS = 10
WEBHOOK_ATTEMPTS = 5
WEBHOOK_FIRST_DELAY_SECONDS = 2


def summary(tenant: Tenant) -> dict[str, Any]:
    """What the integration needs to start booking: the same JSON the page offers for download."""
    rooms_result = result_of(tenant, RoomsResult) or RoomsResult()
    scoped = result_of(tenant, ScopedAccessResult) or ScopedAccessResult()
    return {
        "tenant": tenant.slug,
        "tenant_id": tenant.microsoft_tenant_id,
        "organization": (result_of(tenant, ConnectResult) or ConnectResult()).organization_name,
        "service_account": required_result(tenant, ServiceAccountResult, "user_principal_name", "Service account"),
        "room_lists": [entry.address for entry in rooms_result.lists],
        "app_id": tenant.integration_app_id,
        "management_scope": scoped.scope_name,
        "role": scoped.role,
        "rooms": Room.objects.filter(tenant=tenant, verification_status=VerificationStatus.PASS).count(),
    }


def webhook_address_problem(url: str) -> str:
    """Why Onramp will not call this URL, or ''. The form asks; delivery checks again (wizard.services.webhooks)."""
    try:
        webhooks.check_address(url)
    except webhooks.WebhookAddressRefused as refused:
        return str(refused)
    return ""


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _deliver(checked: webhooks.CheckedAddress, url: str, body: bytes, secret: str, delivery_id: str) -> str:
    """'' when the integration accepted the webhook (2xx), else why not."""
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret),
        "X-Onramp-Delivery": delivery_id,
        "User-Agent": "Onramp",
    }
    try:
        response = webhooks.post(checked, url, body, headers, WEBHOOK_TIMEOUT_SECONDS)
    except requests.RequestException as error:
        return f"{type(error).__name__}: could not reach {url}"
    return "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    verified = result_of(tenant, VerifyResult)
    if verified is None or verified.rooms_passed is None:
        raise StepError(
            code="not_verified",
            message=gettext_noop("Verification has not passed yet."),
            fix=gettext_noop("Run “Verify” until every room passes, then activate."),
        )
    payload = summary(tenant)
    with transaction.atomic():
        if tenant.status != TenantStatus.ACTIVE:
            tenant.status = TenantStatus.ACTIVE
            tenant.save(update_fields=["status", "updated_at"])
            record_event(tenant, ctx.actor, "activate", "succeeded", STEP_ID)
        if erase_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD):
            record_event(tenant, ctx.actor, "erase_service_account_password", "succeeded", STEP_ID)
    result: dict[str, Any] = {"summary": payload, "password_erased": True}
    url = ctx.inputs.get("webhook_url") or ""
    if not url:
        return Done({**result, "webhook": {"status": "not_configured"}})
    return _webhook(ctx, url, payload, result)


def _webhook(ctx: StepContext, url: str, payload: dict[str, Any], result: dict[str, Any]) -> Outcome:
    previous = ctx.previous_result.get("webhook") or {}
    if previous.get("status") == "delivered" and previous.get("url") == url and previous.get("summary") == payload:
        return Done({**result, "webhook": previous})
    pending = previous.get("status") == "retrying" and previous.get("url") == url
    attempt = previous.get("attempts", 0) + 1 if pending else 1
    delivery_id = previous.get("delivery_id") if pending else str(uuid.uuid4())
    secret = read_secret(ctx.tenant, SecretKind.WEBHOOK_SECRET) or ""
    if not secret:
        raise StepError(
            code="webhook_secret_missing",
            message=gettext_noop("A webhook URL is set but no signing secret is stored."),
            fix=gettext_noop("Enter the webhook's signing secret on this page and run the step again."),
        )
    try:
        # Checked again at delivery, not only in the form: a host name can resolve elsewhere by now.
        checked = webhooks.check_address(url)
    except webhooks.WebhookAddressRefused as refused:
        raise StepError(
            code="webhook_address_refused",
            message=str(refused),
            explanation=gettext_noop(
                "Webhooks go to the integration's public endpoint; internal addresses are refused so that "
                "a URL typed into Onramp cannot reach services inside Onramp's own network."
            ),
            fix=gettext_noop("Enter the integration's public https address, or leave the webhook empty."),
        ) from None
    ctx.progress(60, f"Sending the webhook (attempt {attempt} of {WEBHOOK_ATTEMPTS})")
    body = json.dumps({"event": "tenant.activated", "delivery_id": delivery_id, **payload}, sort_keys=True).encode()
    error = _deliver(checked, url, body, secret, delivery_id)
    delivery = {
        "url": url,
        "delivery_id": delivery_id,
        "attempts": attempt,
        "last_error": error,
        "last_attempt_at": time.time(),
        "summary": payload,
    }
    if not error:
        record_event(ctx.tenant, ctx.actor, "webhook", "delivered", STEP_ID, {"attempts": attempt})
        return Done({**result, "webhook": {**delivery, "status": "delivered"}})
    if attempt < WEBHOOK_ATTEMPTS:
        return Wait(
            seconds=WEBHOOK_FIRST_DELAY_SECONDS * 2 ** (attempt - 1),
            waiting_for=f"a retry of the webhook ({error})",
            result={**result, "webhook": {**delivery, "status": "retrying"}},
        )
    record_event(ctx.tenant, ctx.actor, "webhook", "failed", STEP_ID, {"attempts": attempt, "error": error})
    return Done({**result, "webhook": {**delivery, "status": "failed"}})


def verify(ctx: StepContext) -> dict[str, Any]:
    if ctx.tenant.status != TenantStatus.ACTIVE:
        raise StepError(
            code="not_active",
            message=gettext_noop("The tenant is not marked active."),
            fix=gettext_noop("Run this step again."),
        )
    return {"active": True}
