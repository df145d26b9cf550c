"""Fixtures with real parts: a Redis (the one REDIS_URL names, else a private redis-server), a Celery worker in its
own process on the suite's test database, and the sandbox Microsoft tenant over HTTPS on loopback."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from tests.helpers import wait_for

pytest_plugins = ["sandbox.pytest_plugin"]

ROOT = Path(__file__).resolve().parent.parent
WORKER_HEARTBEAT_SECONDS = 1
WORKER_HEARTBEAT_TIMEOUT_SECONDS = 4


@pytest.fixture(autouse=True)
def plain_http_settings(settings) -> None:
    """Test servers speak plain http on loopback and no collectstatic runs: production's secure cookies would
    never come back and the manifest storage would have no manifest."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, url: str, process: subprocess.Popen | None, port: int | None) -> None:
        self.url = url
        self.process = process
        self.port = port
        self._datadir = tempfile.mkdtemp(prefix="onramp-redis-") if process else None

    @classmethod
    def start_private(cls) -> "RedisServer":
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("Set REDIS_URL or install redis-server (make test installs it): task tests need a real Redis")
        port = _free_port()
        server = cls(f"redis://127.0.0.1:{port}/0", None, port)
        server.process = server._spawn(binary)
        return server

    def _spawn(self, binary: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: _port_open(self.port), 10, what="redis-server to listen")
        return process

    def restart(self) -> None:
        """Stop and start the private server on the same port (the queue is lost, as after a real crash)."""
        if self.process is None:
            pytest.skip("restarting Redis needs the private redis-server, not the shared REDIS_URL")
        self.process.terminate()
        self.process.wait(10)
        self.process = self._spawn(shutil.which("redis-server"))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


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


class Worker:
    """`celery worker` in its own process, on the suite's test database and Redis."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                "4",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: b"ready." in self.log_path.read_bytes(), 60, what="the Celery worker to be ready")

    def kill(self) -> None:
        """SIGKILL, as when a machine dies: no chance to finish or hand back the task."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


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
    }


@pytest.fixture(scope="session")
def session_worker(worker_env: dict[str, str], tmp_path_factory) -> Iterator[Worker]:
    worker = Worker(worker_env, tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker(session_worker: Worker, transactional_db) -> Worker:
    """The shared worker, restarted if a test killed it. Tests using it see committed data only."""
    if session_worker.process is None or session_worker.process.poll() is not None:
        session_worker.start()
    return session_worker


@pytest.fixture
def own_worker(worker_env: dict[str, str], tmp_path, transactional_db) -> Iterator[Worker]:
    """A worker this test may kill and restart."""
    worker = Worker(worker_env, tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()
