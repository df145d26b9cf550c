"""The connect page of a second organisation on the same Microsoft tenant: a warning naming the other organisation
to those allowed to see it, and the tick box that records the decision."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import connected_tenant, make_user, run_inline, state_of
from tests.views.test_change_credentials import connect_form
from wizard.models import StepStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def second(sandbox_tenant):
    first = connected_tenant(sandbox_tenant.info, "contoso", admin="alice", name="Contoso Facilities")
    assert run_inline(first, "connect").status == StepStatus.SUCCEEDED
    tenant = connected_tenant(sandbox_tenant.info, "contoso-emea", admin="bob", name="Contoso EMEA")
    assert run_inline(tenant, "connect").status == StepStatus.NEEDS_INPUT
    return tenant


def client_of(username: str, **fields) -> Client:
    client = Client()
    client.force_login(make_user(username, **fields))
    return client


def test_the_page_warns_and_names_the_other_organisation_only_to_those_who_may_see_it(second):
    url = reverse("wizard:step", args=[second.slug, "connect"])

    bobs_page = client_of("bob").get(url).content.decode()
    assert "Another organisation uses this Microsoft tenant" in bobs_page
    assert "1 Onramp organisation you cannot see" in bobs_page
    assert "Contoso Facilities" not in bobs_page
    assert "I know; share this Microsoft tenant" in bobs_page
    assert 'name="share_microsoft_tenant"' in bobs_page

    support_page = client_of("sam", is_staff=True).get(url).content.decode()
    assert "is also connected to “Contoso Facilities”." in support_page


def test_ticking_the_box_runs_the_step_with_the_decision(second, sandbox_tenant, pending_sends):
    bob = client_of("bob")
    url = reverse("wizard:run", args=[second.slug, "connect"])

    assert bob.post(url, connect_form(sandbox_tenant.info, share_microsoft_tenant="on")).status_code == 302

    state = state_of(second, "connect")
    assert state.status == StepStatus.QUEUED
    assert state.inputs == {"method": "app_credentials", "share_microsoft_tenant": True, "share_decided_by": "bob"}
    assert pending_sends() == 1


def test_an_organisation_alone_on_its_tenant_gets_no_warning_and_no_tick_box(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info, "contoso", admin="alice")
    run_inline(tenant, "connect")

    page = client_of("alice").get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()

    assert "Another organisation uses this Microsoft tenant" not in page
    assert "share_microsoft_tenant" not in page
