"""The sandbox's identity platform for people, as Microsoft's (WIRE.md "Sign-in"): a delegated access token is a
signed JWT for one resource with `scp`; a refresh token comes only with `offline_access`, is rotated and can be
revoked; permissions only an administrator may grant need an administrator's consent; Graph's /me endpoints read the
person's roles and groups as far as the token's scopes allow. Driven over HTTP like a browser and a web app."""

import base64
import hashlib
import re
import secrets
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

GLOBAL_ADMIN = "admin@contoso.onmicrosoft.com"
EXCHANGE_ADMIN = "user-001@contoso.onmicrosoft.com"
PLAIN_USER = "user-002@contoso.onmicrosoft.com"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
REDIRECT_URI = "http://127.0.0.1:9/signin/callback"


def _session(info) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_bundle"]
    return session


def _authority(info) -> str:
    return info["authority"].rsplit("/", 1)[0] + "/organizations"


def _form_of(page: str) -> tuple[str, dict[str, str]]:
    form = {unescape(n): unescape(v) for n, v in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page)}
    return re.search(r'<form method="post" action="([^"]+)"', page).group(1), form


def _authorize(info, session, scope: str, upn: str, consent: dict[str, str] | None = None) -> requests.Response:
    """Open the authorize page, pick `upn`; if Microsoft asks for consent, answer with `consent`. Returns the last
    answer: a redirect to the app, or the consent page when `consent` is None."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "client_id": info["client_id"],
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = session.get(f"{_authority(info)}/oauth2/v2.0/authorize?{urlencode(query)}", timeout=10)
    action, form = _form_of(page.text)
    people = re.findall(r'name="oid" value="([^"]+)">[^<]*</button> ([^ ]+) ', page.text)
    chosen = next(oid for oid, shown in people if shown == upn)
    base = urlsplit(info["authority"])._replace(path="", query="").geturl()
    answer = session.post(base + action, data={**form, "oid": chosen}, allow_redirects=False, timeout=10)
    if answer.status_code == 200 and consent is not None:
        action, form = _form_of(answer.text)
        answer = session.post(base + action, data={**form, **consent}, allow_redirects=False, timeout=10)
    answer.verifier = verifier  # type: ignore[attr-defined]
    return answer


def _redirected(answer: requests.Response) -> dict[str, str]:
    assert answer.status_code == 302, answer.text
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


def _tokens(info, session, scope: str, upn: str, **consent) -> requests.Response:
    answer = _authorize(info, session, scope, upn, consent or None)
    code = _redirected(answer)["code"]
    return session.post(
        f"{_authority(info)}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": answer.verifier,
            "scope": scope,
        },
        timeout=10,
    )


def _refresh(info, session, refresh_token: str, scope: str = "openid offline_access User.Read") -> requests.Response:
    return session.post(
        f"{_authority(info)}/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "refresh_token": refresh_token,
            "scope": scope,
        },
        timeout=10,
    )


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _graph(info, session, token: str, method: str, path: str, **kwargs) -> requests.Response:
    return session.request(
        method, info["graph_url"] + path, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs
    )


def test_a_delegated_access_token_is_a_jwt_for_one_resource_with_scp(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    answer = _tokens(info, session, "openid profile offline_access User.Read", EXCHANGE_ADMIN).json()
    claims = _claims(answer["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com" and claims["idtyp"] == "user"
    assert claims["scp"] == "User.Read" and "roles" not in claims
    assert claims["upn"] == EXCHANGE_ADMIN and claims["tid"] == info["tenant_id"] and claims["oid"]
    assert answer["scope"].split()[0] == "https://graph.microsoft.com/User.Read"
    assert answer["refresh_token"]
    # Graph checks the signature, the audience and the expiry of the person's token as of an app's.
    assert _graph(info, session, answer["access_token"], "GET", "/me").json()["userPrincipalName"] == EXCHANGE_ADMIN
    assert _graph(info, session, answer["access_token"][:-4] + "AAAA", "GET", "/me").status_code == 401


def test_wids_in_the_access_token_only_as_the_manifest_asks(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    token = _tokens(info, session, "openid User.Read", GLOBAL_ADMIN).json()["access_token"]
    assert _claims(token)["wids"] == [GLOBAL_ADMINISTRATOR]
    sandbox_tenant.control.set_knobs(group_membership_claims="None")
    token = _tokens(info, session, "openid User.Read", GLOBAL_ADMIN).json()["access_token"]
    assert "wids" not in _claims(token)


def test_no_refresh_token_without_offline_access(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    answer = _tokens(info, session, "openid profile User.Read", EXCHANGE_ADMIN).json()
    assert "refresh_token" not in answer and answer["access_token"]


def test_a_token_request_for_two_resources_is_refused_with_28000(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    scope = "openid User.Read https://outlook.office365.com/EWS.AccessAsUser.All"
    answer = _tokens(info, session, scope, EXCHANGE_ADMIN)
    assert answer.status_code == 400
    assert answer.json()["error_codes"] == [28000]
    assert "contains more than one resource" in answer.json()["error_description"]


def test_a_refresh_rotates_and_the_old_refresh_token_keeps_working(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    first = _tokens(info, session, "openid offline_access User.Read", EXCHANGE_ADMIN).json()["refresh_token"]
    second = _refresh(info, session, first).json()
    assert second["refresh_token"] != first and second["access_token"]
    assert _refresh(info, session, first).status_code == 200


def test_revoked_refresh_tokens_answer_50173_and_new_ones_work(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    before = _tokens(info, session, "openid offline_access User.Read", EXCHANGE_ADMIN).json()["refresh_token"]
    sandbox_tenant.control.revoke_refresh_tokens()
    refused = _refresh(info, session, before)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert refused.json()["error_description"].startswith(
        "AADSTS50173: The provided grant has expired due to it being revoked"
    )
    after = _tokens(info, session, "openid offline_access User.Read", EXCHANGE_ADMIN).json()["refresh_token"]
    assert _refresh(info, session, after).status_code == 200


def test_removed_consent_answers_65001_and_mfa_answers_interaction_required(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    refresh_token = _tokens(info, session, "openid offline_access User.Read", EXCHANGE_ADMIN).json()["refresh_token"]
    sandbox_tenant.control.set_knobs(refresh_requires_mfa=True)
    mfa = _refresh(info, session, refresh_token).json()
    assert mfa["error"] == "interaction_required" and mfa["error_codes"] == [50076]
    sandbox_tenant.control.set_knobs(refresh_requires_mfa=False)
    sandbox_tenant.control.remove_delegated_consent(info["client_id"])
    consent = _refresh(info, session, refresh_token).json()
    assert consent["error"] == "invalid_grant" and consent["error_codes"] == [65001]
    assert "has not consented to use the application" in consent["error_description"]


def test_a_person_without_an_admin_role_cannot_consent_to_an_admin_only_scope(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    page = _authorize(info, session, "openid RoleManagement.Read.Directory", EXCHANGE_ADMIN)
    assert page.status_code == 200
    text = unescape(page.text)
    assert "Need admin approval" in text and "AADSTS90094: The grant requires admin permission." in text
    assert "needs permission to access resources in your organization that only an admin can grant" in text
    back = _authorize(info, session, "openid RoleManagement.Read.Directory", EXCHANGE_ADMIN, {"consent": "decline"})
    assert _redirected(back)["error"] == "access_denied"


def test_an_administrator_consents_for_the_organisation_and_then_everyone_has_the_scope(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    scope = "openid RoleManagement.Read.Directory"
    answer = _tokens(info, session, scope, GLOBAL_ADMIN, consent="accept", consent_for_organization="on")
    assert "RoleManagement.Read.Directory" in _claims(answer.json()["access_token"])["scp"].split()
    # Consented for the organisation: an Exchange Administrator is not asked, and User.Read tokens carry it too.
    token = _tokens(info, session, "openid User.Read", EXCHANGE_ADMIN).json()["access_token"]
    assert set(_claims(token)["scp"].split()) == {"User.Read", "RoleManagement.Read.Directory"}


def test_directory_roles_are_named_only_with_a_scope_that_reads_them(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    path = "/me/transitiveMemberOf/microsoft.graph.directoryRole"
    token = _tokens(info, session, "openid User.Read", GLOBAL_ADMIN).json()["access_token"]
    (limited,) = _graph(info, session, token, "GET", path).json()["value"]
    assert limited["@odata.type"] == "#microsoft.graph.directoryRole" and limited["id"]
    assert limited["roleTemplateId"] is None
    token = _tokens(info, session, "openid RoleManagement.Read.Directory", GLOBAL_ADMIN, consent="accept").json()[
        "access_token"
    ]
    (role,) = _graph(info, session, token, "GET", path).json()["value"]
    assert role["roleTemplateId"] == GLOBAL_ADMINISTRATOR
    plain = _tokens(info, session, "openid User.Read", PLAIN_USER).json()["access_token"]
    assert _graph(info, session, plain, "GET", path).json()["value"] == []


@pytest.mark.parametrize("groups", [3, 201])
def test_groups_claim_and_its_overage_and_check_member_groups(sandbox_tenant, groups):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(groups)]
    sandbox_tenant.control.set_group_memberships(EXCHANGE_ADMIN, ids)
    sandbox_tenant.control.set_knobs(group_membership_claims="All")
    answer = _tokens(info, session, "openid User.Read", EXCHANGE_ADMIN).json()
    id_token = _claims(answer["id_token"])
    if groups > 200:
        assert "groups" not in id_token
        assert id_token["_claim_names"] == {"groups": "src1"} and "endpoint" in id_token["_claim_sources"]["src1"]
    else:
        assert id_token["groups"] == sorted(ids)
    checked = _graph(
        info, session, answer["access_token"], "POST", "/me/checkMemberGroups", json={"groupIds": [ids[-1], "x"]}
    )
    assert checked.json()["value"] == [ids[-1]]


def test_me_is_for_delegated_tokens_only(ms, sandbox_tenant):
    answer = ms.graph("GET", "/me")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "/me request is only valid with delegated authentication flow."


def test_a_persons_token_writes_users_only_with_the_scope_and_a_role_that_may(sandbox_tenant):
    """Delegated access is what the app was granted and what the person may do, both."""
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    reader = _tokens(info, session, "openid User.Read", PLAIN_USER).json()
    assert _graph(info, session, reader["access_token"], "GET", "/users").status_code == 403
    scope = "openid User.ReadWrite.All"
    admin = _tokens(info, session, scope, GLOBAL_ADMIN, consent="accept", consent_for_organization="on").json()
    exchange_admin = _tokens(info, session, scope, EXCHANGE_ADMIN).json()

    def create(token: str, nick: str) -> requests.Response:
        body = {
            "accountEnabled": True,
            "displayName": nick,
            "mailNickname": nick,
            "userPrincipalName": f"{nick}@contoso.onmicrosoft.com",
            "passwordProfile": {"password": "Aa1!" + secrets.token_urlsafe(12)},
        }
        return _graph(info, session, token, "POST", "/users", json=body)

    assert create(admin["access_token"], "by-admin").status_code == 201
    refused = create(exchange_admin["access_token"], "by-exchange-admin")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Authorization_RequestDenied"


EXCHANGE_MANAGE = "https://outlook.office365.com/Exchange.Manage"


def _exchange_token(info, session, upn: str) -> str:
    """A person's token for Exchange's /.default, from the refresh token of a sign-in that consented (for the
    organisation) to Graph's User.Read and Exchange.Manage."""
    scope = f"openid offline_access User.Read {EXCHANGE_MANAGE}"
    answer = _authorize(info, session, scope, GLOBAL_ADMIN, {"consent": "accept", "consent_for_organization": "on"})
    assert "code" in _redirected(answer)
    signed_in = _tokens(info, session, "openid offline_access User.Read", upn).json()
    refreshed = _refresh(info, session, signed_in["refresh_token"], "https://outlook.office365.com/.default")
    assert refreshed.status_code == 200, refreshed.text
    return refreshed.json()["access_token"]


def _invoke(info, session, token: str, cmdlet: str) -> requests.Response:
    return session.post(
        f"{info['exchange_admin_url']}/InvokeCommand",
        json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": {}}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_default_scope_of_a_resource_carries_what_was_consented_there(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    token = _exchange_token(info, session, GLOBAL_ADMIN)
    claims = _claims(token)
    assert claims["aud"] == "https://outlook.office365.com" and claims["scp"] == "Exchange.Manage"
    # Nothing consented on a resource: /.default is refused as a scope not consented.
    signed_in = _tokens(info, session, "openid offline_access User.Read", PLAIN_USER).json()
    sandbox_tenant.control.remove_delegated_consent(info["client_id"], scopes=["Exchange.Manage"])
    refused = _refresh(info, session, signed_in["refresh_token"], "https://outlook.office365.com/.default")
    assert refused.status_code == 400 and refused.json()["error_codes"] == [65001]


def test_invoke_command_runs_as_the_signed_in_person_with_their_exchange_role(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    administrator = _invoke(info, session, _exchange_token(info, session, EXCHANGE_ADMIN), "Get-OrganizationConfig")
    assert administrator.status_code == 200, administrator.text

    nobody = _invoke(info, session, _exchange_token(info, session, PLAIN_USER), "Get-OrganizationConfig")
    assert nobody.status_code == 401
    assert nobody.json()["error"]["message"] == (
        f'The user "contoso.onmicrosoft.com\\{PLAIN_USER}" isn\'t assigned to any management roles.'
    )


def test_a_group_a_person_creates_without_managed_by_is_theirs(sandbox_tenant):
    info, session = sandbox_tenant.info, _session(sandbox_tenant.info)
    token = _exchange_token(info, session, GLOBAL_ADMIN)
    created = session.post(
        f"{info['exchange_admin_url']}/InvokeCommand",
        json={
            "CmdletInput": {"CmdletName": "New-DistributionGroup", "Parameters": {"Name": "Rooms A", "RoomList": True}}
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 200, created.text
    assert created.json()["value"][0]["ManagedBy"], "the creator is not the group's manager"
