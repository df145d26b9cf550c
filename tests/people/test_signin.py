"""Sign in with Microsoft, end to end against the sandbox: who gets in, who joins an organisation as admin, and
every refusal (wrong state, replayed answer, expired or foreign-signed ID token, a plain user of a bound tenant)."""

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from sandbox import oidc
from sandbox.state import EXCHANGE_ADMINISTRATOR
from tenants.models import Membership, MicrosoftIdentity, Role, SupportGrant, SupportRole, Tenant
from tests.factories import PASSWORD, bound_by_proof, connected_tenant, make_tenant, make_user, run_inline
from wizard.microsoft import signin
from wizard.models import AuditEvent, StepStatus
from wizard.steps.exchange_online.connect.service import SHARE_DECIDED_BY, SHARE_INPUT

pytestmark = pytest.mark.django_db

EXCHANGE_ADMIN = "user-001@contoso.onmicrosoft.com"
GLOBAL_ADMIN = "admin@contoso.onmicrosoft.com"
PLAIN_USER = "user-002@contoso.onmicrosoft.com"


def _bound_tenant(info, slug: str = "contoso") -> Tenant:
    return bound_by_proof(make_tenant(slug), info["tenant_id"])


def _signed_in_user(client: Client):
    return client.get("/").wsgi_request.user


def test_an_exchange_administrator_joins_the_bound_organisation_as_admin_and_lands_on_it(microsoft_sign_in):
    tenant = _bound_tenant(microsoft_sign_in.info)
    client, answer = microsoft_sign_in(EXCHANGE_ADMIN)
    assert answer.status_code == 302
    assert answer["Location"] == f"/t/{tenant.slug}/"
    identity = MicrosoftIdentity.objects.get(username=EXCHANGE_ADMIN)
    assert identity.tid == microsoft_sign_in.info["tenant_id"]
    assert Membership.objects.get(user=identity.user, tenant=tenant).role == Role.ADMIN
    event = AuditEvent.objects.get(tenant=tenant, action="member_joined")
    assert event.actor == EXCHANGE_ADMIN
    assert event.detail["directory_roles"] == ["Exchange Administrator"]
    assert _signed_in_user(client) == identity.user


def test_the_same_person_signing_in_again_is_the_same_account(microsoft_sign_in):
    _bound_tenant(microsoft_sign_in.info)
    microsoft_sign_in(GLOBAL_ADMIN)
    MicrosoftIdentity.objects.filter(username=GLOBAL_ADMIN).update(username="renamed@contoso.com")
    microsoft_sign_in(GLOBAL_ADMIN)
    assert MicrosoftIdentity.objects.count() == 1
    assert MicrosoftIdentity.objects.get().username == GLOBAL_ADMIN
    assert AuditEvent.objects.filter(action="member_joined").count() == 1


def test_a_plain_user_of_a_bound_tenant_is_refused_with_a_clear_page(microsoft_sign_in):
    tenant = _bound_tenant(microsoft_sign_in.info)
    client, answer = microsoft_sign_in(PLAIN_USER)
    assert answer.status_code == 403
    text = answer.content.decode()
    assert "not a member of Contoso" in text and "needs an invitation" in text
    assert not _signed_in_user(client).is_authenticated
    assert not Membership.objects.filter(tenant=tenant, user__microsoft_identity__username=PLAIN_USER).exists()


def test_a_person_whose_tenant_has_no_organisation_signs_in_and_may_create_one(microsoft_sign_in):
    client, answer = microsoft_sign_in(PLAIN_USER)
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert _signed_in_user(client).is_authenticated


def test_a_wrong_state_is_refused(microsoft_sign_in):
    client, answer = microsoft_sign_in(EXCHANGE_ADMIN, tamper=lambda query: query.replace("state=", "state=x"))
    assert answer.status_code == 403
    assert "does not belong to a sign-in started here" in answer.content.decode()
    assert not _signed_in_user(client).is_authenticated


def test_a_replayed_answer_is_refused(microsoft_sign_in):
    captured = {}

    def keep(query: str) -> str:
        captured["query"] = query
        return query

    client, answer = microsoft_sign_in(PLAIN_USER, tamper=keep)
    assert answer.status_code == 302
    other = Client()
    replay = other.get(f"/signin/microsoft/callback?{captured['query']}")
    assert replay.status_code == 403
    assert not _signed_in_user(other).is_authenticated


def test_an_error_from_microsoft_is_shown(microsoft_sign_in):
    client, answer = microsoft_sign_in(
        PLAIN_USER, tamper=lambda query: "error=access_denied&error_description=AADSTS65004%3A+User+declined"
    )
    assert answer.status_code == 403
    assert "AADSTS65004" in answer.content.decode()


def _app(info) -> signin.SignInApp:
    return signin.SignInApp(
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        authority=info["authority"].rsplit("/", 1)[0] + "/organizations",
        ca_bundle=info["ca_bundle"],
    )


def _session(info) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_bundle"]
    return session


def _person(sandbox):
    return next(u for u in sandbox.tenant.users.values() if u.mail_nickname == "user-001")


def test_a_genuine_id_token_validates(signin_sandbox):
    info = signin_sandbox.info
    token = oidc.issue_id_token(_person(signin_sandbox), info["client_id"], None)
    claims = signin.validate_id_token(_app(info), token, _session(info))
    assert claims["tid"] == info["tenant_id"] and claims["wids"] == [EXCHANGE_ADMINISTRATOR]


def test_an_expired_id_token_is_refused(signin_sandbox):
    info = signin_sandbox.info
    token = oidc.issue_id_token(_person(signin_sandbox), info["client_id"], None, lifetime_s=-600)
    with pytest.raises(signin.SignInRefused, match="expired"):
        signin.validate_id_token(_app(info), token, _session(info))


def test_a_foreign_signed_id_token_is_refused(signin_sandbox):
    info = signin_sandbox.info
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = oidc.issue_id_token(_person(signin_sandbox), info["client_id"], None, key=stranger)
    with pytest.raises(signin.SignInRefused, match="failed validation"):
        signin.validate_id_token(_app(info), token, _session(info))


def test_an_id_token_for_another_app_is_refused(signin_sandbox):
    info = signin_sandbox.info
    token = oidc.issue_id_token(_person(signin_sandbox), info["integration_app_id"], None)
    with pytest.raises(signin.SignInRefused, match="failed validation"):
        signin.validate_id_token(_app(info), token, _session(info))


def test_people_of_the_support_tenant_are_support_viewers(microsoft_sign_in, settings):
    settings.ONRAMP_SUPPORT_TENANT_ID = microsoft_sign_in.info["tenant_id"]
    _bound_tenant(microsoft_sign_in.info)
    client, answer = microsoft_sign_in(PLAIN_USER)
    assert answer.status_code == 302
    grant = SupportGrant.objects.get(user__microsoft_identity__username=PLAIN_USER)
    assert grant.role == SupportRole.VIEWER


def test_the_login_page_offers_microsoft_when_configured(signin_sandbox):
    page = Client().get("/login/").content.decode()
    assert "Sign in with Microsoft" in page and 'name="password"' in page


def test_password_sign_in_can_be_turned_off(settings, db):
    settings.ONRAMP_PASSWORD_SIGNIN = False
    make_user("local")
    client = Client()
    assert 'name="password"' not in client.get("/login/").content.decode()
    answer = client.post("/login/", {"username": "local", "password": PASSWORD})
    assert answer.status_code == 403
    assert not _signed_in_user(client).is_authenticated


def test_password_sign_in_stays_on_by_default(db):
    make_user("local")
    client = Client()
    page = client.get("/login/").content.decode()
    assert "Sign in with Microsoft" not in page
    assert client.post("/login/", {"username": "local", "password": PASSWORD}).status_code == 302
    assert _signed_in_user(client).is_authenticated


def test_an_administrator_does_not_join_a_later_organisation_that_has_not_decided_to_share(microsoft_sign_in):
    info = microsoft_sign_in.info
    first = connected_tenant(info, "contoso", admin="alice", name="Contoso Facilities")
    assert run_inline(first, "connect").status == StepStatus.SUCCEEDED
    undecided = connected_tenant(info, "contoso-emea", admin="bob", name="Contoso EMEA")
    assert run_inline(undecided, "connect").status == StepStatus.NEEDS_INPUT

    client, answer = microsoft_sign_in(GLOBAL_ADMIN)

    assert answer.status_code == 302 and answer["Location"] == f"/t/{first.slug}/"
    user = MicrosoftIdentity.objects.get(username=GLOBAL_ADMIN).user
    assert set(Tenant.objects.filter(memberships__user=user)) == {first}
    assert not AuditEvent.objects.filter(tenant=undecided, action="member_joined").exists()
    assert client.get(f"/t/{undecided.slug}/").status_code == 404

    decision = {SHARE_INPUT: True, SHARE_DECIDED_BY: "bob"}
    assert run_inline(undecided, "connect", inputs=decision).status == StepStatus.SUCCEEDED
    microsoft_sign_in(GLOBAL_ADMIN, client=client)

    assert Membership.objects.get(user=user, tenant=undecided).role == Role.ADMIN
