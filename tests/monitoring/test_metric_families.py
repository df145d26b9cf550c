"""The metric families issue 28 point 1 still lacked: Celery's queue depth (read from Redis at scrape time), task
runtimes (counted by the worker process that ran the task, added up through prometheus-client's multiprocess
directory as in production) and drift findings by kind (each organisation's latest completed check)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from tests.factories import make_tenant
from tests.helpers import wait_for
from wizard import task_names
from wizard.models import DriftCheck, DriftCheckStatus

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def scrape(settings, client):
    settings.ONRAMP_METRICS_TOKEN = TOKEN

    def read() -> str:
        answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert answer.status_code == 200
        return answer.content.decode()

    return read


def _value(text: str, sample: str) -> float | None:
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_queue_depth_counts_the_messages_no_worker_took(no_worker, scrape):
    # Counted as a difference: an earlier test's worker, stopped or killed, may have left messages behind.
    before = _value(scrape(), 'onramp_celery_queue_messages{queue="celery"}')
    for _ in range(3):
        celery_app.send_task("wizard.tasks.watch_steps")

    after = scrape()

    assert before is not None
    assert _value(after, 'onramp_celery_queue_messages{queue="celery"}') == before + 3
    assert _value(after, "onramp_celery_unacked_messages") is not None
    celery_app.control.purge()


def test_steps_and_drift_checks_are_counted_in_their_own_queues(no_worker, scrape):
    queues = ("celery", "steps", "drift")

    def depths(text: str) -> dict[str, float | None]:
        return {queue: _value(text, f'onramp_celery_queue_messages{{queue="{queue}"}}') for queue in queues}

    before = depths(scrape())
    # Messages no worker takes: a step and a check that do not exist, counted as they wait.
    celery_app.send_task(task_names.RUN_STEP, (0, "no-such-task", False))
    celery_app.send_task(task_names.RUN_DRIFT_CHECK, (0, "no-such-claim"))
    after = depths(scrape())

    assert {queue: after[queue] - before[queue] for queue in queues} == {"celery": 0, "steps": 1, "drift": 1}
    celery_app.control.purge()


def test_task_runtimes_come_from_the_worker_process(worker_with, scrape, tmp_path, monkeypatch):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    worker_with(PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))  # this process scrapes what the worker wrote
    sample = 'onramp_celery_task_seconds_count{state="SUCCESS",task="wizard.tasks.watch_steps"}'

    celery_app.send_task("wizard.tasks.watch_steps")

    wait_for(lambda: _value(scrape(), sample) == 1, 30, interval=0.5, what="the task's runtime in the metrics")
    assert 'onramp_celery_task_seconds_bucket{le="0.25",state="SUCCESS",task="wizard.tasks.watch_steps"}' in scrape()


def test_drift_findings_by_kind_are_those_of_each_organisations_latest_completed_check(scrape):
    now = timezone.now()

    def check(tenant, hours_ago: int, kinds: list[str], status=DriftCheckStatus.DONE) -> None:
        at = now - timedelta(hours=hours_ago)
        findings = [{"kind": kind, "summary": "", "fix": "", "addresses": [], "count": 1} for kind in kinds]
        DriftCheck.objects.create(
            tenant=tenant,
            status=status,
            requested_by="test",
            due_at=at,
            finished_at=at if status == DriftCheckStatus.DONE else None,
            findings=findings,
            drifted=bool(findings),
        )

    contoso, fabrikam, northwind = make_tenant("contoso"), make_tenant("fabrikam"), make_tenant("northwind")
    check(contoso, 48, ["scope_mismatch"])  # fixed since: the latest check no longer finds it
    check(contoso, 24, ["new_rooms", "oversized_lists"])
    check(contoso, 0, [], status=DriftCheckStatus.RUNNING)  # not finished: the last finished one stands
    check(fabrikam, 2, ["new_rooms"])
    check(northwind, 1, [])

    text = scrape()

    assert _value(text, 'onramp_drift_findings{kind="new_rooms"}') == 2
    assert _value(text, 'onramp_drift_findings{kind="oversized_lists"}') == 1
    assert _value(text, 'onramp_drift_findings{kind="scope_mismatch"}') is None
