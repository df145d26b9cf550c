"""Step 0's page says what is true (issue 27 point 10): an integration's app that is not in the organisation is
named at step 0, not first at step 5; after "Reduce Onramp's access" the Exchange access no longer reads "Works";
and reducing access on a Microsoft tenant another organisation shares warns before anything is removed."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import bound_by_proof, connected_tenant, make_tenant, make_user, run_inline, set_state
from wizard.models import StepStatus

pytestmark = pytest.mark.django_db

UNKNOWN_APP = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"


def _page(tenant, step_id: str, username: str = "alice") -> str:
    client = Client()
    client.force_login(make_user(username))
    return client.get(reverse("wizard:step", args=[tenant.slug, step_id])).content.decode()


def test_an_integration_app_not_in_the_organisation_is_named_at_step_0(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info, admin="alice")
    tenant.integration_app_id = UNKNOWN_APP
    tenant.save(update_fields=["integration_app_id"])

    state = run_inline(tenant, "connect")

    assert state.status == StepStatus.SUCCEEDED and state.result["integration_in_tenant"] is False
    assert "Not in your organisation" in _page(tenant, "connect")


def test_an_integration_app_in_the_organisation_raises_no_warning(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info, admin="alice")

    assert run_inline(tenant, "connect").result["integration_in_tenant"] is True
    assert "Not in your organisation" not in _page(tenant, "connect")


def test_after_handing_access_back_step_0_no_longer_says_it_works(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info, admin="alice")
    assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED
    assert ">Works</span>" in _page(tenant, "connect")

    set_state(tenant, "reduce_access", status=StepStatus.SUCCEEDED)

    page = _page(tenant, "connect")
    assert ">Works</span>" not in page and "Handed back" in page


def test_reducing_access_on_a_shared_microsoft_tenant_warns_first():
    tenant_id = "496a40bd-177e-5bf9-b5aa-6f81fab55601"
    first = bound_by_proof(make_tenant("contoso", admin="alice"), tenant_id)
    alone = make_tenant("fabrikam", admin="bob")
    assert "Another organisation still uses" not in _page(first, "reduce_access")

    second = bound_by_proof(make_tenant("contoso-emea", admin="carol"), tenant_id)

    assert "Another organisation still uses" in _page(first, "reduce_access")
    assert "Another organisation still uses" in _page(second, "reduce_access", "carol")
    assert "Another organisation still uses" not in _page(alone, "reduce_access", "bob")
