"""No secret, password or token in the logs of a full run: the worker's log file (INFO, as deployed) and this
process's log records at DEBUG are searched for the connector's and the integration's client secrets, the service
account's generated password, a wrong secret an admin typed, and anything shaped like an access token (the
sandbox's tokens are JWTs, `eyJ…`)."""

import logging
import re

import pytest
from django.contrib.auth import get_user_model

from tenants.models import SecretKind
from tenants.secrets import read_secret, store_secret
from tests.factories import connect_to_sandbox
from tests.faults.helpers import STEP_INPUTS, room_placement, step
from tests.helpers import wait_for
from wizard import engine
from wizard.actions import create_tenant
from wizard.microsoft import connector_clients
from wizard.models import FINISHED_STATUSES, StepStatus
from wizard.steps.registry import steps_for

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")
WRONG_SECRET = "Wr0ng~typed-by-the-admin-5d1c"


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


def test_no_secret_password_or_token_in_the_logs_of_a_full_run(own_worker, make_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    sandbox = make_sandbox(rooms=30, throttle_fraction=0.1)
    info = sandbox.info
    admin = get_user_model().objects.create_user("alice", password="pw-alice-1234")
    tenant = connect_to_sandbox(
        create_tenant(creator=admin, display_name="Contoso", slug="contoso"), info, actor="alice"
    )
    known = _run_all(tenant)
    assert known["service account password"], "the password was never stored, so this test would prove nothing"
    assert room_placement(sandbox.control.state()).lost == []
    with connector_clients(tenant) as ms:  # the client layer in this process too, with DEBUG logging on
        ms.graph.get("/organization")
        ms.exchange.invoke("Get-OrganizationConfig")

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
    }
    logs = {"worker log": own_worker.log(), "this process's log records": caplog.text}
    assert logs["worker log"].count("Task wizard.tasks.run_step[") >= 9  # the log is the run's: every step ran there
    leaks = [f"{what} in the {where}" for what, value in known.items() for where, text in logs.items() if value in text]
    for where, text in logs.items():
        leaks += [f"a token ({match[:16]}…) in the {where}" for match in TOKEN_SHAPE.findall(text)]
    assert not leaks, "\n".join(leaks)
