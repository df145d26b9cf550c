"""A worker thread keeps its database session from one task to the next (settings.CELERY_DB_REUSE_MAX): Celery's
Django fixup would otherwise close it around every task, a new PostgreSQL session for each, nine an onboarding."""

import pytest
from django.db import connection

from tests.helpers import wait_for
from wizard import actions
from wizard.models import StepState, StepStatus

pytestmark = pytest.mark.django_db(transaction=True)


def _other_sessions() -> set[int]:
    """The backends connected to the test database other than this test's own: the worker's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_a_worker_keeps_its_database_session_between_tasks(celery_worker, tenant):
    if connection.vendor != "postgresql":
        pytest.skip("sessions are PostgreSQL's; on SQLite every connection is closed after use (CONN_MAX_AGE 0)")
    sessions = []
    for attempt in (1, 2, 3):
        # A tenant with no app credentials: its step 0 fails at once, in the worker, without calling Microsoft.
        actions.submit_step(tenant, "connect", "test")
        state = wait_for(
            lambda attempt=attempt: (
                (row := StepState.objects.get(tenant=tenant, step_id="connect")).status == StepStatus.FAILED
                and row.attempts == attempt
                and row
            ),
            what=f"attempt {attempt} of step 0 to fail",
        )
        sessions.append(_other_sessions())
    assert state.error_code
    assert sessions[0] & sessions[-1], f"the worker's sessions after each task: {sessions}"
