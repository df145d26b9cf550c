"""What Microsoft's support asks for about a call (issue 28 point 3, the data): every request carries a
client-request-id of Onramp's, every call is logged with Microsoft's request-id and that id, and a step that fails
on a Microsoft error keeps Microsoft's request id, the client request id and the date in its state row (the step
page, the support console) and on the timeline (its export)."""

import logging
import uuid

import pytest

from tenants.models import SecretKind
from tenants.secrets import store_secret
from tests.factories import connected_tenant, run_inline
from wizard.microsoft import connector_clients
from wizard.microsoft.errors import NotFound
from wizard.models import AuditEvent, StepStatus

pytestmark = pytest.mark.django_db


def _calls(caplog) -> list[dict]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "microsoft_call"]


def test_a_graph_refusal_keeps_microsofts_ids_and_every_call_is_logged_with_them(sandbox_tenant, caplog):
    caplog.set_level(logging.INFO, logger="wizard.microsoft.calls")
    tenant = connected_tenant(sandbox_tenant.info)

    with connector_clients(tenant) as ms, pytest.raises(NotFound) as refused:
        ms.graph.get("/users/nobody@contoso.example")

    error = refused.value
    assert error.request_id and error.date, error.detail()
    # The sandbox, like Graph, echoes the client-request-id it was sent; without one it repeats its request id.
    assert error.client_request_id != error.request_id and uuid.UUID(error.client_request_id).version == 4
    [refusal] = [call for call in _calls(caplog) if call.get("status") == 404]
    assert refusal["service"] == "graph" and refusal["method"] == "GET"
    assert refusal["path"] == "/v1.0/users/nobody@contoso.example"
    assert (refusal["request_id"], refusal["client_request_id"]) == (error.request_id, error.client_request_id)
    assert refusal["duration_ms"] >= 0
    assert any(call["service"] == "identity" and call["path"].endswith("/token") for call in _calls(caplog))


def test_a_failed_step_keeps_microsofts_ids_in_its_row_and_on_the_timeline(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info)
    store_secret(tenant, SecretKind.CLIENT_SECRET, "not-the-secret")

    state = run_inline(tenant, "connect")

    assert state.status == StepStatus.FAILED
    ids = {key: state.error_detail.get(key) for key in ("request_id", "client_request_id", "date")}
    assert all(ids.values()), state.error_detail
    failed = AuditEvent.objects.get(tenant=tenant, step_id="connect", outcome="failed")
    assert {key: failed.detail.get(key) for key in ids} == ids
