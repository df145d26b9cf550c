"""Helpers shared by test modules (fixtures live in conftest.py files): waiting on a condition, a private
redis-server, and a Celery worker in its own process."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import kombu.exceptions
import pytest
import redis.exceptions

ROOT = Path(__file__).resolve().parent.parent
WORKER_HEARTBEAT_SECONDS = 1
WORKER_HEARTBEAT_TIMEOUT_SECONDS = 4


def wait_for(condition: Callable[[], object], timeout: float = 30, interval: float = 0.1, what: str = "") -> object:
    """Poll until `condition()` is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def wait_for_mail(directory: Path, timeout: float = 60) -> str:
    """The messages Django's file backend wrote to `directory`, once each file holds whole messages.

    The backend creates a file before it writes to it and ends every message with a rule of 79 dashes, so waiting
    for the file alone races the write."""

    def whole_messages() -> str:
        texts = [path.read_text() for path in directory.iterdir()]
        return "".join(texts) if texts and all(text.endswith("-" * 79 + "\n") for text in texts) else ""

    return wait_for(whole_messages, timeout, what=f"whole emails in {directory}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


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

    def outage(self, seconds: float) -> None:
        """Down for `seconds`, then up again on the same port, empty (a Redis without persistence)."""
        if self.process is None:
            pytest.skip("an outage needs the private redis-server, not the shared REDIS_URL")
        self.process.terminate()
        self.process.wait(10)
        time.sleep(seconds)
        self.process = self._spawn(shutil.which("redis-server"))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


class Worker:
    """`celery worker` in its own process, on the suite's test database and Redis."""

    def __init__(self, env: dict[str, str], log_path: Path, pool: str = "threads") -> None:
        self.env = env
        self.log_path = log_path
        self.pool = pool
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
                self.pool,
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

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def busy(self) -> bool:
        """Still running a task (a thread of its pool cannot be cancelled). No answer within the timeout counts as
        busy: a worker too loaded to answer is no fresh start either."""
        held = self._held("active")
        return held is None or held["active"]

    def _held(self, *kinds: str) -> dict[str, bool] | None:
        """Whether the worker holds tasks of each kind (active, reserved, scheduled); None when it does not answer.
        `limit=1`: the suite's one worker answers, so the broadcast need not wait out its timeout for others."""
        from config.celery import app

        inspect = app.control.inspect(timeout=3, limit=1)
        try:
            replies = {kind: getattr(inspect, kind)() for kind in kinds}
        except (redis.exceptions.RedisError, kombu.exceptions.OperationalError, OSError):
            # This process's broker connection died with a Redis an earlier test restarted.
            return None
        if any(reply is None for reply in replies.values()):
            return None
        return {kind: any(reply.values()) for kind, reply in replies.items()}

    def settle(self, timeout: float = 15) -> None:
        """Let the worker finish what a test left running (an email, a chained step's first writes) before the
        test's data is flushed: the flush's TRUNCATE and a worker's queries can deadlock, and the flush loses. A
        worker that does not answer, is still busy after `timeout`, or holds a check scheduled for later (a waiting
        step's) is killed; the next test starts it again."""
        if not self.running:
            return
        deadline = time.monotonic() + timeout
        held = self._held("active", "reserved", "scheduled")
        while held is not None and (held["active"] or held["reserved"]) and time.monotonic() < deadline:
            time.sleep(0.2)
            held = self._held("active", "reserved", "scheduled")
        if held is None or any(held.values()):
            self.kill()

    def kill(self) -> None:
        """SIGKILL, as when a machine dies: no chance to finish or hand back the task."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL if it hangs; a worker that already exited is just reaped."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def postgres_answers() -> bool:
    """Whether the PostgreSQL the benchmarks create their databases in (BENCH_POSTGRES_URL) answers."""
    import psycopg

    from bench.djangoenv import POSTGRES_URL

    try:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def run_quick_bench(name: str, tmp_path: Path, timeout: float) -> tuple[dict, str]:
    """`python -m bench --quick --only NAME` in a process of its own: (its one result, what it printed). Fails the
    test, with the end of its output, when it exits non-zero or reports an error."""
    import json

    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", name, "--results", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    (result,) = json.loads(results.read_text())["benchmarks"]
    assert not result["error"], result["error"]
    return result, done.stdout
