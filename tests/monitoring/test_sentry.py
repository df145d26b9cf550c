"""Error reports (issue 28 point 5): with a DSN, a crash reaches Sentry with no secret in it. A real event, made by
sentry-sdk's Django integration from a request that crashes, is captured by a transport of the test's own (no
network) and searched for every secret the request and the crashing code held."""

import json

import pytest
import requests
import sentry_sdk
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from sentry_sdk.transport import Transport

from observability import sentry

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_SECRET = "Qx8~client-secret-value-1f2e"
PASSWORD = "Service-Account-Pw-77!"
ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJl"
SESSION_COOKIE = "sessionvalue0123456789abcdef"
OAUTH_CODE = "0.AAAA-authorisation-code"


@csrf_exempt
@login_not_required
def crashing_view(request: HttpRequest) -> HttpResponse:
    client_secret = request.POST["client_secret"]  # noqa: F841 - a local the event's frame would show
    password = PASSWORD  # noqa: F841
    token = {"access_token": ACCESS_TOKEN}  # noqa: F841
    raise RuntimeError(f"Microsoft refused the token {ACCESS_TOKEN} (Authorization: Bearer {ACCESS_TOKEN})")


urlpatterns = [path("crash", crashing_view)]


class CapturingTransport(Transport):
    def __init__(self, options: dict | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[str] = []

    def capture_envelope(self, envelope) -> None:
        self.envelopes.append(envelope.serialize().decode())


@pytest.fixture
def reported(settings):
    settings.ROOT_URLCONF = __name__
    transport = CapturingTransport()
    sentry.start("https://public@sentry.invalid/1", transport=transport)
    yield transport.envelopes
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: nothing is reported any more


def test_a_crash_is_reported_without_its_secrets(reported, live_server):
    # Through a real WSGI server: Sentry's Django integration reads the URL and headers from the WSGI call.
    answer = requests.post(
        f"{live_server.url}/crash?code={OAUTH_CODE}&state=s",
        data={"client_secret": CLIENT_SECRET, "password": PASSWORD, "display_name": "Contoso"},
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}", "X-Api-Key": CLIENT_SECRET, "X-Trace": "kept"},
        cookies={"sessionid": SESSION_COOKIE, "csrftoken": SESSION_COOKIE},
        timeout=10,
    )
    sentry_sdk.flush()

    assert answer.status_code == 500
    events = [json.loads(envelope.splitlines()[2]) for envelope in reported]
    # The crash, as the Django integration reported it (an error line of another logger would be an event too).
    [crash] = [event for event in events if event.get("request", {}).get("url", "").endswith("/crash")]
    assert crash["exception"]["values"][-1]["type"] == "RuntimeError"
    assert crash["request"]["data"]["display_name"] == "Contoso" and crash["request"]["headers"]["X-Trace"] == "kept"
    assert any(frame.get("vars") for frame in crash["exception"]["values"][-1]["stacktrace"]["frames"])
    leaks = [name for name, secret in _SECRETS.items() for envelope in reported if secret in envelope]
    assert not leaks, f"{leaks} reached Sentry"


_SECRETS = {
    "client secret": CLIENT_SECRET,
    "password": PASSWORD,
    "access token": ACCESS_TOKEN,
    "a piece of the token": ACCESS_TOKEN.split(".")[1],
    "session cookie": SESSION_COOKIE,
    "OAuth code": OAUTH_CODE,
}


def test_scrub_removes_token_shaped_text_and_secret_keys_anywhere():
    event = {
        "message": f"token {ACCESS_TOKEN}",
        "extra": {"nested": [{"client_secret": CLIENT_SECRET}, ["Authorization", f"Bearer {ACCESS_TOKEN}"]]},
        "breadcrumbs": {"values": [{"message": f"GET /callback?code={OAUTH_CODE}"}]},
    }

    scrubbed = json.dumps(sentry.scrub(event, {}))

    assert not [name for name, secret in _SECRETS.items() if secret in scrubbed]
    assert "/callback?code=[secret]" in scrubbed
