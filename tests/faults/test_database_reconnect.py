"""A database connection that died between requests (PostgreSQL restarted, a failover, pg_terminate_backend) is
noticed before the next request uses it: every request after the reconnect answers, none answers 500.

The requests go through Django's WSGI handler in this thread, one after another, as a gunicorn worker thread serves
them: the thread keeps its connection between requests (CONN_MAX_AGE) and Django checks it at each request's start.
The test client cannot show this: it turns that check off around its requests."""

from io import BytesIO
from wsgiref.util import setup_testing_defaults

import psycopg
import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests import factories

REQUESTS = 10


def _get(handler: WSGIHandler, path: str, session_key: str) -> int:
    """The status code of a GET through the WSGI handler, as a server would call it."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={session_key}",
        "wsgi.input": BytesIO(b""),
    }
    setup_testing_defaults(environ)
    statuses: list[str] = []
    body = handler(environ, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        b"".join(body)
    finally:
        body.close()  # sends request_finished, as a server does
    return int(statuses[0].split()[0])


def _terminate_backend(pid: int) -> None:
    """pg_terminate_backend from a second connection, as an operator (or a failover) would end the first."""
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        terminated = other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()
    assert terminated == (True,)


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL (DATABASE_URL=postgres://…): SQLite has no server connection to lose, and Onramp "
    "closes SQLite connections after each request anyway (CONN_MAX_AGE=0)",
)
def test_every_request_after_the_database_connection_was_terminated_answers(transactional_db) -> None:
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0, "connections are kept between requests, as deployed"
    factories.make_tenant("contoso", admin="alice")
    browser = Client()
    browser.force_login(factories.make_user("alice"))
    session_key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    handler = WSGIHandler()
    page = reverse("wizard:step", kwargs={"slug": "contoso", "step_id": "connect"})
    assert _get(handler, page, session_key) == 200
    backend_pid = connection.connection.info.backend_pid

    _terminate_backend(backend_pid)
    statuses = [_get(handler, page, session_key) for _ in range(REQUESTS)]

    assert statuses == [200] * REQUESTS
    assert connection.connection.info.backend_pid != backend_pid
