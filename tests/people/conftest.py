"""Sign in with Microsoft against the sandbox tenant: Onramp's settings point its sign-in at the sandbox's
`organizations` authority, and `microsoft_sign_in` plays the browser (Django's test client for Onramp, a requests
session for the sandbox's sign-in page)."""

import re
from collections.abc import Callable
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client

from sandbox.server import RunningSandbox


def sandbox_sign_in_settings(settings, info: dict) -> None:
    settings.ONRAMP_SIGNIN_CLIENT_ID = info["client_id"]
    settings.ONRAMP_SIGNIN_CLIENT_SECRET = info["client_secret"]
    settings.ONRAMP_SIGNIN_AUTHORITY = info["authority"].rsplit("/", 1)[0] + "/organizations"
    settings.ONRAMP_SIGNIN_CA_BUNDLE = info["ca_bundle"]


@pytest.fixture
def signin_sandbox(settings, sandbox_tenant: RunningSandbox) -> RunningSandbox:
    sandbox_sign_in_settings(settings, sandbox_tenant.info)
    return sandbox_tenant


def answer_sign_in_page(info: dict, auth_uri: str, upn: str) -> str:
    """Press the person's button on the sandbox's sign-in page; returns where it redirects the browser."""
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_bundle"]
    page = session.get(auth_uri, timeout=10)
    assert page.status_code == 200, page.text
    form = {unescape(n): unescape(v) for n, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text)}
    oid = dict(
        (shown, oid) for oid, shown in re.findall(r'name="oid" value="([^"]+)">[^<]*</button> ([^ ]+) ', page.text)
    )[upn]
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    answer = session.post(
        urlsplit(auth_uri)._replace(path=action, query="").geturl(),
        data={**form, "oid": oid},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


@pytest.fixture
def microsoft_sign_in(signin_sandbox: RunningSandbox) -> Callable[..., tuple[Client, object]]:
    """Sign `upn` in through Onramp's Microsoft button; returns the client and Onramp's answer to the callback."""

    def sign_in(upn: str, client: Client | None = None, tamper: Callable[[str], str] | None = None):
        client = client or Client()
        start = client.get("/signin/microsoft/")
        assert start.status_code == 302, start.content
        callback = answer_sign_in_page(signin_sandbox.info, start["Location"], upn)
        parts = urlsplit(callback)
        assert parts.path == "/signin/microsoft/callback"
        query = tamper(parts.query) if tamper else parts.query
        return client, client.get(f"{parts.path}?{query}")

    sign_in.info = signin_sandbox.info  # type: ignore[attr-defined]
    return sign_in
