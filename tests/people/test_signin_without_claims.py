"""Sign in with Microsoft when the ID token leaves out what Onramp decides on (issue 25 points 1 and 2): a sign-in app
without groupMembershipClaims sends no `wids`, and past 200 groups an ID token lists no group. Onramp reads what is
missing through Microsoft Graph in the same sign-in (asking, once, for the scope that reads directory roles), or says
precisely what the installation's operator must configure."""

import html
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client

from tenants.models import Membership, MicrosoftIdentity, Role, SupportGrant, SupportRole
from tests.factories import bound_by_proof, make_tenant

pytestmark = pytest.mark.django_db

GLOBAL_ADMIN = "admin@contoso.onmicrosoft.com"
EXCHANGE_ADMIN = "user-001@contoso.onmicrosoft.com"
PLAIN_USER = "user-002@contoso.onmicrosoft.com"
SUPPORT_GROUP = "5b1c9a3e-0000-4000-8000-00000000cafe"


def follow_sign_in(info: dict, client: Client, answer, consent: dict[str, str] | None = None):
    """Follow Onramp's answer through any further sign-in at the sandbox (Microsoft signs the same person in from
    the login hint), answering its consent page with `consent`; returns Onramp's last answer."""
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_bundle"]
    base = info["authority"].rsplit("/", 1)[0]
    while answer.status_code == 302 and answer["Location"].startswith(base):
        page = session.get(answer["Location"], allow_redirects=False, timeout=10)
        if page.status_code == 200:
            assert consent is not None, unescape(page.text)
            form = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
            action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
            data = {unescape(k): unescape(v) for k, v in form.items()} | consent
            page = session.post(base + action, data=data, allow_redirects=False, timeout=10)
        assert page.status_code == 302, page.text
        parts = urlsplit(page.headers["Location"])
        answer = client.get(f"{parts.path}?{parts.query}")
    return answer


def _page(answer) -> str:
    return html.unescape(answer.content.decode())


def _member_role(tenant, upn: str) -> str | None:
    membership = Membership.objects.filter(tenant=tenant, user__microsoft_identity__username=upn).first()
    return membership.role if membership else None


def test_without_wids_a_global_administrator_still_joins_as_admin_through_graph(microsoft_sign_in, signin_sandbox):
    signin_sandbox.control.set_knobs(group_membership_claims="None")
    tenant = bound_by_proof(make_tenant("contoso"), microsoft_sign_in.info["tenant_id"])
    signin_sandbox.control.reset_calls()

    client, answer = microsoft_sign_in(GLOBAL_ADMIN)
    # User.Read lists the role without naming it: Onramp asks once more, for the scope that reads it.
    assert answer.status_code == 302 and "RoleManagement.Read.Directory" in answer["Location"]
    answer = follow_sign_in(microsoft_sign_in.info, client, answer, consent={"consent": "accept"})

    assert answer.status_code == 302 and answer["Location"] == f"/t/{tenant.slug}/"
    assert _member_role(tenant, GLOBAL_ADMIN) == Role.ADMIN
    assert "Microsoft says you are Global Administrator" in _page(client.get(answer["Location"], follow=True))
    assert signin_sandbox.control.calls()["calls"]["GET /me/transitiveMemberOf/microsoft.graph.directoryRole"] == 2


def test_once_consented_for_the_organisation_an_exchange_administrator_joins_in_one_sign_in(
    microsoft_sign_in, signin_sandbox
):
    signin_sandbox.control.set_knobs(group_membership_claims="None")
    tenant = bound_by_proof(make_tenant("contoso"), microsoft_sign_in.info["tenant_id"])
    client, answer = microsoft_sign_in(GLOBAL_ADMIN)
    follow_sign_in(
        microsoft_sign_in.info, client, answer, consent={"consent": "accept", "consent_for_organization": "on"}
    )

    _, answer = microsoft_sign_in(EXCHANGE_ADMIN)

    assert answer.status_code == 302 and answer["Location"] == f"/t/{tenant.slug}/"
    assert _member_role(tenant, EXCHANGE_ADMIN) == Role.ADMIN


def test_when_the_roles_cannot_be_read_the_page_names_what_the_operator_must_configure(
    microsoft_sign_in, signin_sandbox, caplog
):
    """An Exchange Administrator may not consent to RoleManagement.Read.Directory (Microsoft's "Need admin
    approval"): refused, with the two settings that would let Onramp know their roles."""
    signin_sandbox.control.set_knobs(group_membership_claims="None")
    tenant = bound_by_proof(make_tenant("contoso"), microsoft_sign_in.info["tenant_id"])

    client, answer = microsoft_sign_in(EXCHANGE_ADMIN)
    answer = follow_sign_in(microsoft_sign_in.info, client, answer, consent={"consent": "decline"})

    assert answer.status_code == 403
    text = _page(answer)
    assert "Onramp asked Microsoft to read which administrator roles you hold, and Microsoft refused" in text
    assert "groupMembershipClaims to “DirectoryRole”" in text
    assert "admin consent to the app's delegated Microsoft Graph permission RoleManagement.Read.Directory" in text
    assert "Privileged Identity Management" in text
    assert _member_role(tenant, EXCHANGE_ADMIN) is None
    assert "could not read directory roles" in caplog.text


def test_without_wids_a_person_with_no_role_is_refused_at_once_and_told_about_eligible_roles(
    microsoft_sign_in, signin_sandbox
):
    """Graph lists no role at all: that is an answer, so no second sign-in and no talk of misconfiguration."""
    signin_sandbox.control.set_knobs(group_membership_claims="None")
    bound_by_proof(make_tenant("contoso"), microsoft_sign_in.info["tenant_id"])

    _, answer = microsoft_sign_in(PLAIN_USER)

    assert answer.status_code == 403
    text = _page(answer)
    assert "not a member of" in text and "activate it and sign in again" in text
    assert "groupMembershipClaims" not in text


def test_a_person_in_more_than_200_groups_keeps_support_access(microsoft_sign_in, signin_sandbox, settings):
    """Past 200 groups the ID token carries the overage marker instead of the list; Graph's checkMemberGroups says
    whether the person is in the support group."""
    settings.ONRAMP_SUPPORT_TENANT_ID = microsoft_sign_in.info["tenant_id"]
    settings.ONRAMP_SUPPORT_GROUP_ID = SUPPORT_GROUP
    groups = [f"00000000-0000-4000-8000-{i:012d}" for i in range(200)] + [SUPPORT_GROUP]
    signin_sandbox.control.set_group_memberships(PLAIN_USER, groups)
    signin_sandbox.control.set_knobs(group_membership_claims="All")

    _, answer = microsoft_sign_in(PLAIN_USER)

    assert answer.status_code == 302
    grant = SupportGrant.objects.get(user=MicrosoftIdentity.objects.get(username=PLAIN_USER).user)
    assert grant.role == SupportRole.VIEWER
    assert signin_sandbox.control.calls()["calls"]["POST /me/checkMemberGroups"] == 1


def test_when_graph_cannot_say_the_support_groups_the_person_is_told_and_gets_no_support_role(
    microsoft_sign_in, signin_sandbox, settings
):
    settings.ONRAMP_SUPPORT_TENANT_ID = microsoft_sign_in.info["tenant_id"]
    settings.ONRAMP_SUPPORT_GROUP_ID = SUPPORT_GROUP
    groups = [f"00000000-0000-4000-8000-{i:012d}" for i in range(200)] + [SUPPORT_GROUP]
    signin_sandbox.control.set_group_memberships(PLAIN_USER, groups)
    signin_sandbox.control.set_knobs(group_membership_claims="All", error_fraction=1.0)  # Graph answers 503

    client, answer = microsoft_sign_in(PLAIN_USER)

    assert answer.status_code == 302
    assert not SupportGrant.objects.filter(user__microsoft_identity__username=PLAIN_USER).exists()
    page = _page(client.get(answer["Location"], follow=True))
    assert "could not ask Microsoft Graph whether you are in the support group" in page
    assert "delegated Microsoft Graph permission User.Read" in page
