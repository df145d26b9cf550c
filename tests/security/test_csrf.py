"""CSRF on every POST: each URL pattern, filled with the signed-in admin's own tenant (so the request would
otherwise be allowed), refuses a POST without the token; the same POST with the token gets past the check."""

import pytest
from django.test import Client

from tests.security.urlwalk import all_routes
from wizard.models import AuditEvent, StepState

pytestmark = pytest.mark.django_db


def _csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_every_post_without_the_token_is_refused(users, tenants):
    client = _csrf_client(users["alice"])
    states_before = list(StepState.objects.values_list("pk", "status", "task_id"))
    events_before = AuditEvent.objects.count()
    accepted = []
    posted = 0
    for route in all_routes():
        for url in route.urls(tenants["contoso"]):
            posted += 1
            status = client.post(url, {"source": "all", "name": "Rooms"}).status_code
            if status != 403:
                accepted.append(f"POST {url} → {status}")
    assert not accepted, "POSTs accepted without a CSRF token:\n" + "\n".join(accepted)
    assert posted > 50
    assert list(StepState.objects.values_list("pk", "status", "task_id")) == states_before
    assert AuditEvent.objects.count() == events_before


def test_support_posts_need_the_token_too(users, tenants):
    client = _csrf_client(users["support"])
    for action in ("retry", "reverify", "resume"):
        assert client.post(f"/t/contoso/steps/connect/{action}").status_code == 403


def test_login_needs_the_token(users):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "alice", "password": "pw-alice-1234"})
    assert response.status_code == 403


def test_the_same_post_with_the_token_gets_past_the_check(users, tenants):
    # The test's transaction never commits, so the queued step's task is never sent: no worker is involved.
    StepState.objects.filter(tenant=tenants["contoso"], step_id="connect").update(status="succeeded")
    client = _csrf_client(users["alice"])
    client.get("/t/contoso/steps/connect/")  # the page sets the CSRF cookie its forms use
    token = client.cookies["csrftoken"].value
    response = client.post("/t/contoso/steps/org_customization/run", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302
    assert StepState.objects.get(tenant=tenants["contoso"], step_id="org_customization").status == "queued"
