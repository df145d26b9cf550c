"""The EWS client against the sandbox's EWS: each answer mapped to its code and plain words; Autodiscover against a
stand-in Autodiscover server over TLS."""

import base64
import http.server
import threading
from collections.abc import Iterator

import pytest

from sandbox.tls import loopback_material
from wizard.engine import ensure_states
from wizard.microsoft.clouds import endpoints_for
from wizard.microsoft.errors import AuthenticationFailed, MicrosoftError
from wizard.microsoft.ews import (
    AUTODISCOVER_RESPONSE_SCHEMA,
    DENIED_CODES,
    EXPLANATIONS,
    EwsClient,
    autodiscover_candidates,
    basic_auth,
    ews_url_from_autodiscover,
    service_account_auth,
)
from wizard.microsoft.http import build_session
from wizard.models import StepState
from wizard.outcomes import Done, StepContext
from wizard.steps.exchange_server import common as service
from wizard.steps.exchange_server.connect import service as connect_step

from .conftest import SERVICE_PASSWORD, create_service_account, exchange_server_tenant

pytestmark = pytest.mark.django_db
ROOM = "room-001@contoso.onmicrosoft.com"


@pytest.fixture
def tenant(sandbox_tenant):
    tenant = exchange_server_tenant(sandbox_tenant.info)
    create_service_account(tenant)
    return tenant


def client(tenant, info, password=SERVICE_PASSWORD, url=None) -> EwsClient:
    url = url or info["ews_url"]
    session = build_session(endpoints_for(tenant))
    upn = "svc-rooms@contoso.onmicrosoft.com"
    return EwsClient(url, session, service_account_auth(url, upn, password), "ews-test", user=upn)


def test_each_answer_has_its_code_and_plain_words(tenant, sandbox_tenant):
    ews = client(tenant, sandbox_tenant.info)
    own = ews.calendar_access()
    assert own.opened and own.code == "NoError"

    denied = ews.calendar_access(ROOM)  # no ApplicationImpersonation assignment yet
    assert (denied.opened, denied.denied, denied.code) == (False, True, "ErrorImpersonateUserDenied")
    assert "ApplicationImpersonation" in denied.reason and "room list" in denied.reason

    ghost = ews.calendar_access("ghost@contoso.onmicrosoft.com")
    assert ghost.code == "ErrorNonExistentMailbox" and not ghost.denied
    assert ghost.explanation == EXPLANATIONS["ErrorNonExistentMailbox"]


def test_impersonation_follows_the_scope(tenant, sandbox_tenant):
    control = sandbox_tenant.control
    control.invoke("New-DistributionGroup", Name="Rooms", Alias="rooms", RoomList=True)
    control.invoke("Add-DistributionGroupMember", Identity="rooms", Member=ROOM)
    dn = control.invoke("Get-DistributionGroup", Identity="rooms")[0]["DistinguishedName"]
    control.invoke("New-ManagementScope", Name="Rooms", RecipientRestrictionFilter=f"MemberOfGroup -eq '{dn}'")
    control.invoke(
        "New-ManagementRoleAssignment",
        User="svc-rooms@contoso.onmicrosoft.com",
        Role="ApplicationImpersonation",
        CustomRecipientWriteScope="Rooms",
    )
    ews = client(tenant, sandbox_tenant.info)
    assert ews.calendar_access(ROOM).opened
    assert ews.calendar_access("room-002@contoso.onmicrosoft.com").code == "ErrorImpersonateUserDenied"


def test_busy_answers_are_waited_out(tenant, sandbox_tenant):
    sandbox_tenant.control.set_knobs(throttle_fraction=0.5)
    ews = client(tenant, sandbox_tenant.info)
    answers = [ews.calendar_access(ROOM).code for _ in range(6)]
    assert answers == ["ErrorImpersonateUserDenied"] * 6
    assert sandbox_tenant.control.calls()["throttled"] > 0


def test_refused_credentials_and_wrong_urls_raise_with_the_reason(tenant, sandbox_tenant):
    info = sandbox_tenant.info
    with pytest.raises(AuthenticationFailed) as refused:
        client(tenant, info, password="wrong").calendar_access(ROOM)
    assert refused.value.code == "HTTP401" and "password" in refused.value.explanation
    assert "sent NTLM" in refused.value.message  # Windows authentication, what the virtual directory offers
    with pytest.raises(MicrosoftError) as wrong_url:
        client(tenant, info, url=info["ews_url"].replace("/EWS/Exchange.asmx", "/owa/")).calendar_access(ROOM)
    assert wrong_url.value.code in {"HTTP404", "NotEws"} and wrong_url.value.explanation
    with pytest.raises(AuthenticationFailed) as plain:
        basic_auth("http://mail.contoso.com/EWS/Exchange.asmx", "svc@contoso.com", "secret")
    assert plain.value.code == "BasicOverHttp"


def test_every_denial_code_is_explained():
    assert EXPLANATIONS.keys() >= DENIED_CODES
    for code in ("ErrorInvalidImpersonationHeader", "ErrorAccessDenied", "HTTP401", "ErrorServerBusy"):
        assert EXPLANATIONS[code]


AUTODISCOVER_ANSWER = f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="{AUTODISCOVER_RESPONSE_SCHEMA}">
    <User><DisplayName>Room booking service</DisplayName></User>
    <Account><AccountType>email</AccountType><Action>settings</Action>
      <Protocol><Type>EXCH</Type><Server>ex01.contoso.local</Server><EwsUrl>https://ex01.contoso.local/EWS/Exchange.asmx</EwsUrl></Protocol>
      <Protocol><Type>EXPR</Type><Server>mail.contoso.com</Server><EwsUrl>{{ews_url}}</EwsUrl></Protocol>
    </Account>
  </Response>
</Autodiscover>"""


@pytest.fixture
def autodiscover_server(sandbox_tenant) -> Iterator[str]:
    """Microsoft's POX Autodiscover as an on-premises server answers it, for the sandbox's EWS URL."""
    expected = "Basic " + base64.b64encode(f"svc-rooms@contoso.onmicrosoft.com:{SERVICE_PASSWORD}".encode()).decode()
    answer = AUTODISCOVER_ANSWER.replace("{ews_url}", sandbox_tenant.info["ews_url"]).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Authorization") != expected:
                # A 401 names what it accepts; this stand-in checks Basic only (an Autodiscover virtual directory
                # offers Basic and Windows authentication by default), so it offers Basic.
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="127.0.0.1"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            """Quiet: the test reads what was received, not the server's log."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = loopback_material().server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/autodiscover/autodiscover.xml"
    server.shutdown()
    server.server_close()


def test_connect_finds_the_ews_url_by_autodiscover(tenant, sandbox_tenant, autodiscover_server):
    tenant.custom_endpoints = {**tenant.custom_endpoints, "autodiscover_url": autodiscover_server}
    tenant.save()
    ensure_states(tenant)
    inputs = service.save_connection(
        tenant,
        "admin",
        service_account_upn="svc-rooms@contoso.onmicrosoft.com",
        password=SERVICE_PASSWORD,
        ews_url="",
    )
    StepState.objects.filter(tenant=tenant, step_id="connect").update(inputs=inputs)
    state = StepState.objects.get(tenant=tenant, step_id="connect")
    outcome = connect_step.perform(StepContext(tenant=tenant, state=state, actor="test", progress=lambda p, m: None))
    assert isinstance(outcome, Done)
    assert outcome.result["ews_url"] == sandbox_tenant.info["ews_url"]
    assert outcome.result["ews_url_source"] == "autodiscover"


def test_autodiscover_prefers_the_external_url_and_tries_the_documented_hosts():
    answer = AUTODISCOVER_ANSWER.replace("{ews_url}", "https://mail.contoso.com/EWS/Exchange.asmx").encode()
    assert ews_url_from_autodiscover(answer) == "https://mail.contoso.com/EWS/Exchange.asmx"
    assert ews_url_from_autodiscover(b"<Autodiscover/>") is None
    assert ews_url_from_autodiscover(b"not xml") is None
    assert autodiscover_candidates("svc@Contoso.com") == [
        "https://contoso.com/autodiscover/autodiscover.xml",
        "https://autodiscover.contoso.com/autodiscover/autodiscover.xml",
    ]


def test_windows_authentication_is_what_a_default_ews_virtual_directory_offers(tenant, sandbox_tenant):
    """Exchange's default EWS virtual directory offers Negotiate/NTLM, not Basic: the service account signs in with
    NTLM (requests-ntlm), and names the mailbox it acts on in X-AnchorMailbox."""
    ews = client(tenant, sandbox_tenant.info)
    assert ews.calendar_access().opened
    assert ews.calendar_access(ROOM).code == "ErrorImpersonateUserDenied"
    assert sandbox_tenant.control.calls()["ews_anchor"] == {"matched": 2}


def test_basic_is_used_only_where_it_is_all_that_is_offered(tenant, sandbox_tenant):
    sandbox_tenant.control.set_knobs(ews_windows_authentication=False, ews_basic_authentication=True)
    assert client(tenant, sandbox_tenant.info).calendar_access().opened
    with pytest.raises(AuthenticationFailed) as refused:
        client(tenant, sandbox_tenant.info, password="wrong").calendar_access()
    assert refused.value.code == "HTTP401" and "sent Basic" in refused.value.message


def test_no_method_onramp_can_use_is_not_a_wrong_password(tenant, sandbox_tenant):
    sandbox_tenant.control.set_knobs(ews_windows_authentication=False, ews_basic_authentication=False)
    with pytest.raises(AuthenticationFailed) as refused:
        client(tenant, sandbox_tenant.info).calendar_access()
    assert refused.value.code == "AuthNotOffered"
    assert "WindowsAuthentication $true" in refused.value.fix and "password" not in refused.value.explanation


@pytest.mark.parametrize("shape", ["internal", "connections"])
def test_every_throttling_answer_is_waited_out(tenant, sandbox_tenant, shape, monkeypatch):
    """HTTP 200 ErrorInternalServerError wrapping ErrorServerBusy, and ErrorExceededConnectionCount, are busy answers
    too (EWS throttling in Exchange, tables 3 and 4)."""
    from wizard.microsoft import ews as ews_module

    monkeypatch.setattr(ews_module, "DEFAULT_BUSY_SECONDS", 0.05)  # neither answer says how long to wait
    sandbox_tenant.control.set_knobs(throttle_fraction=0.5, ews_busy_answer=shape)
    ews = client(tenant, sandbox_tenant.info)
    assert [ews.calendar_access(ROOM).code for _ in range(6)] == ["ErrorImpersonateUserDenied"] * 6
    assert sandbox_tenant.control.calls()["throttled"] > 0
