"""A heartbeat from a side thread while a worker runs a piece of work (a step, a drift check, a tenant's work slot),
so that a killed worker shows: its beat stops, and the watchdog (wizard.actions.watch_steps) takes the work over.

It beats every ONRAMP_HEARTBEAT_SECONDS. With `stall_seconds`, it beats only while the work moves (`touch`): a thread
stuck in a call that never ends would otherwise keep dead work "running" for ever, so after that long without
activity the heartbeat stops (`stalled` says so once) and the watchdog treats the work as if its worker had died."""

import threading
import time

from django.conf import settings
from django.db import connection


class Heartbeat:
    """Subclasses say what one beat writes (`beat`) and, with `stall_seconds`, what a stall records (`stalled`)."""

    def __init__(self, name: str, stall_seconds: float | None = None) -> None:
        self.stall_seconds = stall_seconds
        self._last_activity = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def beat(self) -> None:
        raise NotImplementedError

    def stalled(self, idle_seconds: float) -> None:
        """The work made no progress for `idle_seconds`: the beat stops until it moves again."""

    def touch(self) -> None:
        self._last_activity = time.monotonic()

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        stalled = False
        try:
            while not self._stop.wait(settings.ONRAMP_HEARTBEAT_SECONDS):
                idle = time.monotonic() - self._last_activity
                if self.stall_seconds is None or idle <= self.stall_seconds:
                    stalled = False
                    self.beat()
                elif not stalled:
                    stalled = True
                    self.stalled(idle)
        finally:
            # The thread's own database connection, which Django opened on its first query.
            connection.close()
