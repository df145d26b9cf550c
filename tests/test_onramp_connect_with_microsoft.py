"""`onramp connect --with-microsoft` (issue 23 point 5): a headless operator connects with Onramp's own app through
the device code flow, with no app registration, id or secret typed: the administrator enters the code shown in the
terminal and signs in, their validated sign-in binds the organisation, the command prints the admin consent link,
and after consent `onramp run` takes the organisation to activation."""

import io
import re
import threading
from urllib.parse import urlsplit

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test import Client

from tenants.models import BindingProof, Tenant, TenantStatus
from tests.factories import make_tenant, on_sandbox_cloud
from tests.helpers import wait_for
from wizard.models import AuditEvent
from wizard.services import admin_sign_in

GLOBAL_ADMIN = "admin@contoso.onmicrosoft.com"


@pytest.fixture
def onramps_app(settings, sandbox_tenant):
    settings.ONRAMP_CONNECTOR_CLIENT_ID = sandbox_tenant.info["onramp_app_id"]
    settings.ONRAMP_CONNECTOR_CLIENT_SECRET = sandbox_tenant.info["onramp_app_secret"]
    return sandbox_tenant


def _enter_code(info: dict, message: str, upn: str) -> None:
    """What the administrator does in a browser: open the page the terminal names, enter the code, sign in."""
    found = re.search(r"open the page (\S+) and enter the code (\S+) ", message)
    assert found, message
    url, code = found.groups()
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_bundle"]
    page = session.get(url, params={"code": code}, timeout=10).text
    oid = dict((shown, oid) for oid, shown in re.findall(r'name="oid" value="([^"]+)">[^<]*</button> ([^ <]+)', page))[
        upn
    ]
    signed_in = session.post(url, data={"code": code, "oid": oid}, timeout=10)
    assert "return to the device" in signed_in.text, signed_in.text


def test_a_terminal_connects_with_microsoft_and_runs_to_activation(onramps_app, celery_worker):
    info = onramps_app.info
    tenant = on_sandbox_cloud(make_tenant("contoso", admin="alice"), info)
    out, err, exits = io.StringIO(), io.StringIO(), []

    def connect() -> None:
        try:
            call_command(
                "onramp",
                "connect",
                "--slug",
                "contoso",
                "--with-microsoft",
                "--integration-app-id",
                info["integration_app_id"],
                stdout=out,
                stderr=err,
            )
            exits.append(0)
        except SystemExit as exit_:
            exits.append(exit_.code)
        finally:
            connection.close()

    terminal = threading.Thread(target=connect)
    terminal.start()
    wait_for(lambda: "enter the code" in out.getvalue(), 30, what="the device code in the terminal")
    _enter_code(info, out.getvalue(), GLOBAL_ADMIN)
    terminal.join(60)

    assert exits == [2], (out.getvalue(), err.getvalue())
    tenant.refresh_from_db()
    assert (tenant.microsoft_tenant_id, tenant.binding_proof) == (info["tenant_id"], BindingProof.ADMIN_SIGN_IN)
    assert tenant.binding_proven_by == GLOBAL_ADMIN and tenant.client_id == info["onramp_app_id"]
    link = re.search(r"(https://\S+/adminconsent\?\S+)", err.getvalue())
    assert link, err.getvalue()

    # The administrator opens the link and consents; Microsoft sends the browser to Onramp's "return to the
    # terminal" page. Nothing else: Onramp acts with the administrator's own rights, so its app needs no role.
    session = requests.Session()
    session.trust_env = False
    back = session.get(link.group(1), verify=info["ca_bundle"], allow_redirects=False, timeout=10)
    landing = urlsplit(back.headers["Location"])
    assert landing.path == "/connect/consented"
    assert "Return to your terminal" in Client().get(f"{landing.path}?{landing.query}").content.decode()

    call_command("onramp", "run", "--slug", "contoso", "--all-rooms", "--yes", "--wait", stdout=io.StringIO())

    assert Tenant.objects.get(pk=tenant.pk).status == TenantStatus.ACTIVE, "organisation not activated"
    # The device sign-in was kept (a public client's) and the worker refreshed it before each step's writes.
    assert admin_sign_in.kept_sign_in(tenant).public_client
    writes = AuditEvent.objects.filter(tenant=tenant, action__in=["create_service_account", "create_room_list"])
    assert writes.exists() and {event.detail.get("ran_under") for event in writes} == {GLOBAL_ADMIN}


def test_with_microsoft_takes_no_pasted_id_or_secret(onramps_app, db):
    on_sandbox_cloud(make_tenant("contoso", admin="alice"), onramps_app.info)
    with pytest.raises(Exception, match="takes no --tenant-id"):
        call_command(
            "onramp", "connect", "--slug", "contoso", "--with-microsoft", "--tenant-id", onramps_app.info["tenant_id"]
        )
