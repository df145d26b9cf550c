"""Prometheus metrics (issue 28 point 1, in part): GET /metrics needs the installation's bearer token (no token
configured: no page), and counts step runs by profile, step and outcome, Microsoft's answers by service and status,
and organisations by state."""

import re

import pytest
from django.test import Client

from tests.factories import connected_tenant, run_inline
from wizard.models import StepStatus

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"


def _scrape(client: Client) -> str:
    answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert answer.status_code == 200
    return answer.content.decode()


def _value(text: str, sample: str) -> float:
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_no_token_configured_means_no_metrics_page(settings, client):
    settings.ONRAMP_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_a_wrong_or_missing_token_is_refused(settings, client):
    settings.ONRAMP_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401


def test_a_step_run_and_microsofts_answers_are_counted(settings, client, sandbox_tenant):
    settings.ONRAMP_METRICS_TOKEN = TOKEN
    succeeded = 'onramp_steps_finished_total{outcome="succeeded",profile="exchange_online",step="connect"}'
    graph_ok = 'onramp_microsoft_calls_total{service="graph",status="200",throttled="false"}'
    before = _scrape(client)
    tenant = connected_tenant(sandbox_tenant.info)

    assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED

    after = _scrape(client)
    assert _value(after, succeeded) == _value(before, succeeded) + 1
    assert _value(after, graph_ok) >= _value(before, graph_ok) + 5, "step 0's Graph reads were not counted"
    assert _value(after, 'onramp_organisations{state="setting_up"}') >= 1
    assert "onramp_microsoft_call_seconds_bucket" in after and "onramp_step_seconds_bucket" in after
