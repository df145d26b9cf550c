"""Fixtures with real parts: a Redis (the one REDIS_URL names, else a private redis-server), a Celery worker in its
own process on the suite's test database, and the sandbox Microsoft tenant over HTTPS on loopback; and those that the
topic folders (tests/services, tests/views) and the steps' own tests (tests/steps/<profile>/<step>/) share: running a
tenant's steps on the worker, and the users, tenants and signed-in clients the page tests look through."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from config.celery import app as celery_app
from sandbox.state import MULTITENANT_APP_ID, MULTITENANT_SECRET
from tenants.models import Tenant
from tests.helpers import (
    WORKER_HEARTBEAT_SECONDS,
    WORKER_HEARTBEAT_TIMEOUT_SECONDS,
    RedisServer,
    Worker,
)
from wizard import headless
from wizard.actions import create_tenant
from wizard.microsoft import ratelimit

pytest_plugins = ["sandbox.pytest_plugin"]

# Where every sandbox tenant of the suite listens.
SANDBOX_HOST = "127.0.0.1"


@pytest.fixture(autouse=True)
def plain_http_settings(settings) -> None:
    """Test servers speak plain http on loopback and no collectstatic runs: production's secure cookies would
    never come back and the manifest storage would have no manifest."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    # The sandbox tenants listen on 127.0.0.1 and the installation vouches for them, as `make run` does; a test's
    # attacker-chosen endpoints live on other loopback addresses (127.0.0.2).
    settings.ONRAMP_TRUSTED_ENDPOINT_HOSTS = [SANDBOX_HOST]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    shared = os.environ.get("REDIS_URL")
    server = RedisServer(shared, None, None) if shared else RedisServer.start_private()
    # The suite's own process sends tasks and shares the rate limit through this Redis.
    settings.REDIS_URL = server.url
    celery_app.conf.broker_url = server.url
    celery_app.conf.broker_transport_options = {"visibility_timeout": 3600}
    yield server
    server.stop()


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def worker_env(redis_server: RedisServer, django_db_setup, django_db_blocker) -> dict[str, str]:
    with django_db_blocker.unblock():
        database_url = _database_url()
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "SECRET_KEY": settings.SECRET_KEY,
        "ONRAMP_ENCRYPTION_KEYS": ",".join(settings.ONRAMP_ENCRYPTION_KEYS),
        "ONRAMP_VAR_DIR": str(settings.VAR_DIR),
        "ONRAMP_HEARTBEAT_SECONDS": str(WORKER_HEARTBEAT_SECONDS),
        "ONRAMP_HEARTBEAT_TIMEOUT_SECONDS": str(WORKER_HEARTBEAT_TIMEOUT_SECONDS),
        # The sandbox's own budget (a knob) is what tests about throttling tighten; Onramp's pace only sets speed.
        "ONRAMP_CALLS_PER_SECOND": os.environ.get("ONRAMP_CALLS_PER_SECOND", "40"),
        # The tests' webhook receivers listen on loopback.
        "ONRAMP_WEBHOOK_ALLOW_PRIVATE": "true",
        "ONRAMP_TRUSTED_ENDPOINT_HOSTS": SANDBOX_HOST,
        # Onramp's own multi-tenant app is the one the sandbox publishes (the same in every sandbox); tests that
        # connect with it set the same two settings in their own process.
        "ONRAMP_CONNECTOR_CLIENT_ID": MULTITENANT_APP_ID,
        "ONRAMP_CONNECTOR_CLIENT_SECRET": MULTITENANT_SECRET,
    }


@pytest.fixture(scope="session")
def session_worker(worker_env: dict[str, str], tmp_path_factory) -> Iterator[Worker]:
    """The suite's shared worker, started by the first test that asks for `celery_worker`."""
    worker = Worker(worker_env, tmp_path_factory.mktemp("worker") / "worker.log")
    yield worker
    worker.stop()


def _purge_queue() -> None:
    """Drop messages an earlier test left queued: their state rows are gone with that test's data."""
    celery_app.control.purge()


def _clear_call_budgets(redis_server: RedisServer) -> None:
    """Every sandbox has the same tenant id, so an earlier test's reservations (up to minutes of calls ahead of
    now) would make this test's first call wait for them."""
    client = redis.Redis.from_url(redis_server.url)
    for key in client.scan_iter(f"{ratelimit.KEY_PREFIX}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def celery_worker(session_worker: Worker, redis_server: RedisServer, transactional_db) -> Iterator[Worker]:
    """The shared worker, idle, with an empty queue and fresh call budgets; tests using it see committed data only.
    A worker still running an earlier test's task (retrying against that test's stopped sandbox, say) is replaced:
    its pool's threads would otherwise starve this test's steps. After the test, what is queued is dropped and the
    worker settles before the test's data is flushed."""
    _purge_queue()
    if session_worker.running and session_worker.busy():
        session_worker.kill()
    if not session_worker.running:
        session_worker.start()
    _clear_call_budgets(redis_server)
    yield session_worker
    _purge_queue()
    session_worker.settle()


@pytest.fixture
def no_worker(session_worker: Worker, redis_server: RedisServer, transactional_db) -> None:
    """Nothing consumes the queue: for a test that watches a queued step stay queued. The shared worker, which an
    earlier test may have started, is stopped (the next `celery_worker` test starts it again)."""
    session_worker.stop()
    _purge_queue()


@pytest.fixture
def own_worker(
    session_worker: Worker, worker_env: dict[str, str], redis_server: RedisServer, tmp_path, transactional_db
) -> Iterator[Worker]:
    """A worker this test may kill and restart. The shared worker is stopped first, so that this one is the
    queue's only consumer: a task must not slip to a worker the test does not control."""
    session_worker.stop()
    _purge_queue()
    _clear_call_budgets(redis_server)
    worker = Worker(worker_env, tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def own_prefork_worker(
    session_worker: Worker, worker_env: dict[str, str], redis_server: RedisServer, tmp_path, transactional_db
) -> Iterator[Worker]:
    """Like `own_worker`, with the prefork pool that docker-compose.yml's worker runs (Celery's default)."""
    session_worker.stop()
    _purge_queue()
    _clear_call_budgets(redis_server)
    worker = Worker(worker_env, tmp_path / "worker.log", pool="prefork")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def mailing_worker(session_worker, worker_env, redis_server, tmp_path, transactional_db) -> Iterator[Path]:
    """A worker of this test's own whose mail backend writes files to the returned folder: the email must leave
    from it."""
    session_worker.stop()
    _purge_queue()
    _clear_call_budgets(redis_server)
    outbox = tmp_path / "mail"
    outbox.mkdir()
    # django-environ drops the path's first slash: four slashes make an absolute path.
    worker = Worker({**worker_env, "EMAIL_URL": f"filemail:///{outbox}"}, tmp_path / "worker.log")
    worker.start()
    yield outbox
    worker.stop()


STEP_TIMEOUT_SECONDS = 120


RunSteps = Callable[..., headless.RunOutcome]


@pytest.fixture
def run_steps(celery_worker) -> RunSteps:
    """Run a tenant's steps on the worker, from `start` (default: the first unfinished) to `until` (default: the
    last), waiting through Microsoft's delays; stops at a step that fails or needs input."""

    def run(
        tenant: Tenant, *, start: str | None = None, until: str | None = None, inputs: dict[str, Any] | None = None
    ) -> headless.RunOutcome:
        return headless.run_steps(
            tenant,
            actor="test",
            start=headless.first_step_to_run(tenant, start, inputs),
            until=until,
            inputs=inputs or {},
            wait_on_microsoft=True,
            on_update=lambda state: None,
            timeout=STEP_TIMEOUT_SECONDS,
        )

    return run


# Users and tenants for the page tests: an admin with a tenant, a second tenant's admin, and support staff.


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_user("alice", password="pw-alice-1234")


@pytest.fixture
def other_admin(db):
    return get_user_model().objects.create_user("mallory", password="pw-mallory-1234")


@pytest.fixture
def support_user(db):
    return get_user_model().objects.create_user("sam", password="pw-sam-1234", is_staff=True)


@pytest.fixture
def tenant(admin_user) -> Tenant:
    return create_tenant(creator=admin_user, display_name="Contoso", slug="contoso")


@pytest.fixture
def other_tenant(other_admin) -> Tenant:
    return create_tenant(creator=other_admin, display_name="Fabrikam", slug="fabrikam")


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def other_client(other_admin) -> Client:
    client = Client()
    client.force_login(other_admin)
    return client


@pytest.fixture
def support_client(support_user) -> Client:
    client = Client()
    client.force_login(support_user)
    return client


@pytest.fixture
def pending_sends(db) -> Callable[[], int]:
    """How many task sends the views have queued on commit. The test's transaction never commits, so they stay
    pending and no worker is involved: these tests look at pages."""
    return lambda: len(connection.run_on_commit)
