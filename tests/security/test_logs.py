"""No secret, password or token in the logs of a full run: the worker's log (INFO, as deployed, in JSON lines:
ONRAMP_LOG_FORMAT=json) and this process's log lines at DEBUG, rendered by the same structured formatter and also as
pytest records them, are searched for the connector's and the integration's client secrets, the service account's
generated password, a wrong secret an admin typed, every access token the sandbox issued, and anything shaped like
an access token (the sandbox's tokens are JWTs, `eyJ…`). The same run shows that every Microsoft call of a step is
logged with its organisation, step, Celery task id and Microsoft's ids."""

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from observability import logs as structured_logs
from tenants.models import SecretKind
from tenants.secrets import read_secret, store_secret
from tests.factories import connect_to_sandbox
from tests.faults.helpers import STEP_INPUTS, room_placement, step
from tests.helpers import Worker, wait_for
from wizard import engine
from wizard.actions import create_tenant
from wizard.microsoft import connector_clients
from wizard.models import FINISHED_STATUSES, StepStatus
from wizard.steps.registry import steps_for

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")
WRONG_SECRET = "Wr0ng~typed-by-the-admin-5d1c"
ALICE_PASSWORD = "pw-alice-1234-sign-in"


@pytest.fixture
def json_logging_worker(session_worker, worker_env, redis_server, tmp_path, transactional_db) -> Iterator[Worker]:
    """The queue's only worker, logging JSON lines as a production deployment would."""
    session_worker.stop()
    from config.celery import app

    app.control.purge()
    worker = Worker({**worker_env, "ONRAMP_LOG_FORMAT": "json"}, tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def rendered_here() -> Iterator[io.StringIO]:
    """This process's log lines at DEBUG as the console handler renders them in production (JSON)."""
    spec = structured_logs.formatter("json")
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(spec.pop("()")(**spec))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler.stream
    root.removeHandler(handler)
    root.setLevel(level)


def _tokens_onramp_holds(tenant) -> list[str]:
    """Every token in the tenant's msal cache (access tokens of each service, and any refresh or ID token)."""
    cache = json.loads(read_secret(tenant, SecretKind.TOKEN_CACHE) or "{}")
    return [entry["secret"] for section in cache.values() for entry in section.values() if entry.get("secret")]


def _json_lines(log: str) -> list[dict]:
    """The worker's log lines: JSON from its `ready.` line on (Celery prints its banner before, as text)."""
    lines = log.splitlines()
    first = next(index for index, line in enumerate(lines) if line.startswith("{") and "ready." in line)
    not_json = [line for line in lines[first:] if line.strip() and not line.startswith("{")]
    assert not not_json, f"log lines that are not JSON: {not_json[:5]}"
    return [json.loads(line) for line in lines[first:] if line.strip()]


def _run_all(tenant) -> dict[str, str]:
    """Every step in order on the worker; returns the service account's password, read while it is stored."""
    password = ""
    for step_def in steps_for(tenant.profile):
        if step_def.optional:  # handing Onramp's access back would end the run's later calls
            continue
        engine.enqueue_step(tenant, step_def.id, "alice", inputs=STEP_INPUTS.get(step_def.id))
        state = wait_for(
            lambda s=step_def.id: (st := step(tenant, s)).status in (*FINISHED_STATUSES, StepStatus.FAILED) and st,
            120,
            what=f"step {step_def.id}",
        )
        assert state.status == StepStatus.SUCCEEDED, f"{state.step_id}: {state.error_code} {state.error_message}"
        if step_def.id == "service_account":
            password = read_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD) or ""
    return {"service account password": password}


def test_no_secret_password_or_token_in_the_logs_of_a_full_run(
    json_logging_worker, make_sandbox, caplog, rendered_here
):
    caplog.set_level(logging.DEBUG)
    sandbox = make_sandbox(rooms=30, throttle_fraction=0.1)
    info = sandbox.info
    admin = get_user_model().objects.create_user("alice", password=ALICE_PASSWORD)
    tenant = connect_to_sandbox(
        create_tenant(creator=admin, display_name="Contoso", slug="contoso"), info, actor="alice"
    )
    known = _run_all(tenant)
    assert known["service account password"], "the password was never stored, so this test would prove nothing"
    assert room_placement(sandbox.control.state()).lost == []
    with connector_clients(tenant) as ms:  # the client layer in this process too, with DEBUG logging on
        ms.graph.get("/organization")
        ms.exchange.invoke("Get-OrganizationConfig")
    # The web process: the admin signs in and reads every step's page.
    web = Client()
    assert web.post("/login/", {"username": "alice", "password": ALICE_PASSWORD}).status_code == 302
    for step_def in steps_for(tenant.profile):
        assert web.get(f"/t/contoso/steps/{step_def.id}/").status_code == 200, step_def.id

    # An admin types a wrong secret: the failure is logged and explained, the secret itself is not.
    wrong = connect_to_sandbox(
        create_tenant(creator=admin, display_name="Fabrikam", slug="fabrikam"), info, actor="alice"
    )
    store_secret(wrong, SecretKind.CLIENT_SECRET, WRONG_SECRET)
    engine.enqueue_step(wrong, "connect", "alice")
    failed = wait_for(lambda: (s := step(wrong, "connect")).status == StepStatus.FAILED and s, 60, what="connect")
    assert failed.error_code

    known |= {
        "connector client secret": info["client_secret"],
        "integration client secret": info["integration_client_secret"],
        "wrong secret typed by an admin": WRONG_SECRET,
        "the admin's password": ALICE_PASSWORD,
    }
    issued = _tokens_onramp_holds(tenant)
    assert issued, "no token was cached, so this test would not look for any"
    known |= {f"token {n} Microsoft issued": token for n, token in enumerate(issued)}
    worker_log = json_logging_worker.log()
    logs = {
        "worker log": worker_log,
        "this process's log lines": rendered_here.getvalue(),
        "this process's log records": caplog.text,
    }
    here = logs["this process's log lines"].splitlines()
    finished = [json.loads(line) for line in here if "request_finished" in line]
    pages = [line for line in finished if line["request"].startswith("GET /t/contoso/steps/")]
    assert len(pages) == len(steps_for(tenant.profile))
    for page in pages:  # each page's line says whose page it was, and which step
        assert page["organisation"] == "contoso" and page["request"] == f"GET /t/contoso/steps/{page['step']}/", page
    lines = _json_lines(worker_log)  # fails on any line that is not JSON
    assert sum("Task wizard.tasks.run_step[" in line["event"] for line in lines) >= 9  # every step ran there
    calls = [line for line in lines if line["event"] == "microsoft_call" and line.get("step")]
    assert {line["step"] for line in calls} >= {"connect", "service_account", "rooms", "verify"}
    for line in calls:
        assert line["organisation"] in ("contoso", "fabrikam") and line["task_id"], line
        assert line["service"] in ("identity", "graph", "exchange") and line["client_request_id"], line
    # Graph's refusals (the sandbox sends request-id with those, as Graph does with every answer) say which request.
    refusals = [line for line in calls if line["service"] == "graph" and line.get("status", 0) >= 400]
    assert refusals and all(line["request_id"] for line in refusals)
    leaks = [f"{what} in the {where}" for what, value in known.items() for where, text in logs.items() if value in text]
    for where, text in logs.items():
        leaks += [f"a token ({match[:16]}…) in the {where}" for match in TOKEN_SHAPE.findall(text)]
    assert not leaks, "\n".join(leaks)
