"""A Global Administrator who signs in and is joined automatically is told on the page they land on why they are a
member: the directory role that joined them. A person who joins nothing is told nothing of the kind."""

import html

import pytest

from tenants.models import Membership, MicrosoftIdentity
from tests.factories import bound_by_proof, make_tenant
from wizard.people.views import joined_by_directory_role

pytestmark = pytest.mark.django_db

GLOBAL_ADMIN = "admin@contoso.onmicrosoft.com"


def test_a_global_administrator_lands_on_the_organisation_told_which_role_joined_them(microsoft_sign_in):
    tenant = bound_by_proof(make_tenant("contoso"), microsoft_sign_in.info["tenant_id"])

    client, answer = microsoft_sign_in(GLOBAL_ADMIN)

    assert answer.status_code == 302 and answer["Location"] == f"/t/{tenant.slug}/"
    landed = client.get(answer["Location"], follow=True)
    page = html.unescape(landed.content.decode())
    assert landed.redirect_chain[-1][0].startswith(f"/t/{tenant.slug}/steps/")
    assert f"You are now an admin of {tenant.display_name} in Onramp because Microsoft says you are Global " in page
    assert "Administrator of its Microsoft 365 tenant" in page
    # Said once: signing in again joins nothing new, and says nothing about joining.
    client, answer = microsoft_sign_in(GLOBAL_ADMIN)
    assert (
        Membership.objects.filter(tenant=tenant, user=MicrosoftIdentity.objects.get(username=GLOBAL_ADMIN).user).count()
        == 1
    )
    assert "You are now an admin" not in client.get(answer["Location"], follow=True).content.decode()


def test_the_message_names_every_organisation_and_role():
    first, second = make_tenant("contoso"), make_tenant("fabrikam", name="Fabrikam")
    said = joined_by_directory_role([first, second], ["Global Administrator", "Exchange Administrator"])
    assert f"{first.display_name} and {second.display_name}" in said
    assert "Global Administrator and Exchange Administrator of their Microsoft 365 tenant" in said
