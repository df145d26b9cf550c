"""Issue 24's measure of "the step is the unit": a step defined in one folder (tests/steps/test_only/greeting/) and one
line of its profile runs through the page, the command and the engine, touching no product file."""

import io
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

import tests.steps.test_only.profile as test_only
from tenants.models import Tenant
from tests.factories import make_tenant, make_user
from tests.helpers import Worker, wait_for
from tests.steps.test_only.greeting.result import GreetingResult
from wizard.apps import create_missing_step_states
from wizard.models import AuditEvent, StepState, StepStatus
from wizard.steps.registry import steps_for

PROFILE_MODULES = ",".join(
    ["wizard.steps.exchange_online.profile", "wizard.steps.exchange_server.profile", "tests.steps.test_only.profile"]
)


@pytest.fixture
def worker_with_test_profile(own_worker: Worker, worker_env: dict[str, str], tmp_path) -> Iterator[Worker]:
    """A worker whose installation offers the test-only profile too (ONRAMP_PROFILE_MODULES)."""
    own_worker.stop()
    worker = Worker({**worker_env, "ONRAMP_PROFILE_MODULES": PROFILE_MODULES}, tmp_path / "greeting-worker.log")
    worker.start()
    yield worker
    worker.stop()


def _state() -> StepState:
    return StepState.objects.get(tenant__slug="hello", step_id="greeting")


def _finished(status: str) -> StepState | None:
    state = _state()
    return state if state.status == status else None


def test_a_step_in_one_folder_runs_through_the_page_the_command_and_the_engine(worker_with_test_profile):
    assert [step.id for step in steps_for(test_only.PROFILE)] == ["greeting"]
    admin = make_user("greeter")
    # The tenants app offers the installation's profiles only: the organisation is moved to the test's profile, and
    # its step rows made as `migrate` makes them for a profile's new steps.
    tenant = make_tenant("hello", admin="greeter")
    Tenant.objects.filter(pk=tenant.pk).update(profile=test_only.PROFILE)
    StepState.objects.filter(tenant=tenant).delete()
    create_missing_step_states()
    client = Client()
    client.force_login(admin)
    page = reverse("wizard:step", kwargs={"slug": "hello", "step_id": "greeting"})
    run = reverse("wizard:run", kwargs={"slug": "hello", "step_id": "greeting"})

    # The page: the step's own template (from its folder), its form and its PowerShell.
    html = client.get(page).content.decode()
    assert "The greeting step&#x27;s own page" in html or "The greeting step's own page" in html
    assert 'name="name"' in html and "Write-Output" in html

    # The form refuses on the page, and nothing is saved.
    refused = client.post(run, {"name": "R2D2"})
    assert refused.status_code == 400 and "Letters only." in refused.content.decode()
    assert _state().status == StepStatus.NOT_STARTED and _state().inputs == {}

    # The page runs it through the engine and the worker.
    assert client.post(run, {"name": "Ada", "shout": "on"}).status_code == 302
    done = wait_for(lambda: _finished(StepStatus.SUCCEEDED), timeout=60, what="the greeting step to succeed")
    assert done.inputs == {"name": "Ada", "shout": True}
    assert GreetingResult.from_json(done.result).greeting == "HELLO, ADA!"
    assert "HELLO, ADA!" in client.get(page).content.decode()

    # The command feeds the same form: its refusal in the form's own words, naming the field.
    with pytest.raises(CommandError, match=r"greeting\.name: Letters only\."):
        call_command("onramp", "run", "--slug", "hello", "--set", "greeting.name=G1", stdout=io.StringIO())
    out = io.StringIO()
    call_command("onramp", "run", "--slug", "hello", "--set", "greeting.name=Grace", "--timeout", "60", stdout=out)
    assert "greeting: succeeded" in out.getvalue()
    assert GreetingResult.from_json(_state().result).greeting == "Hello, Grace."
    assert _state().inputs == {"name": "Grace", "shout": False}
    # Both runs are in the audit trail, by whom they ran.
    actors = list(
        AuditEvent.objects.filter(tenant__slug="hello", step_id="greeting", action__in=["run", "retry"])
        .order_by("pk")
        .values_list("actor", flat=True)
    )
    assert actors[0] == "greeter" and "cli" in actors
