"""The switch on the pages: a refused step says what it means and what happens next, the support console names the
refusal and offers the switch to operators, the switch is a POST recorded with its actor, and a viewer cannot."""

import pytest
from django.test import Client
from django.urls import reverse

from tenants.models import ExchangeWrites, Membership, Role, Tenant
from tests.factories import make_tenant, make_user, set_state
from wizard import actions, drift
from wizard.errors import INVOKE_COMMAND_REFUSED, INVOKE_COMMAND_REFUSED_EXPLANATION, INVOKE_COMMAND_REFUSED_FIX
from wizard.models import AuditEvent, StepStatus

pytestmark = pytest.mark.django_db

SWITCH = "Switch: the admin runs the Exchange changes"


def refused(tenant: Tenant) -> None:
    set_state(
        tenant,
        "connect",
        status=StepStatus.FAILED,
        error_code=INVOKE_COMMAND_REFUSED,
        error_message="Exchange Online refused InvokeCommand (Get-OrganizationConfig) to the app: HTTP 403",
        error_detail={"explanation": INVOKE_COMMAND_REFUSED_EXPLANATION, "fix": INVOKE_COMMAND_REFUSED_FIX},
    )


def signed_in(username: str, **fields) -> Client:
    client = Client()
    client.force_login(make_user(username, **fields))
    return client


def test_the_refused_step_says_what_happens_next_and_offers_the_switch():
    tenant = make_tenant("contoso", admin="alice")
    refused(tenant)

    page = signed_in("alice").get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()

    assert INVOKE_COMMAND_REFUSED in page and "Retrying will not help" in page and SWITCH in page


def test_support_console_names_the_refusal_and_an_operator_switches_it_back_and_forth():
    tenant = make_tenant("contoso", admin="alice")
    refused(tenant)
    operator = signed_in("sam", is_staff=True)

    page = operator.get(reverse("orgs:support_tenant", args=[tenant.slug])).content.decode()
    assert "Microsoft refuses InvokeCommand to Onramp's app" in page and SWITCH in page

    switch = reverse("wizard:exchange_writes", args=[tenant.slug])
    back = reverse("orgs:support_tenant", args=[tenant.slug])
    response = operator.post(switch, {"writes": ExchangeWrites.BY_ADMIN, "next": back})
    assert response.status_code == 302 and response.url == back
    tenant.refresh_from_db()
    assert tenant.admin_runs_exchange_writes
    operator.post(switch, {"writes": ExchangeWrites.BY_ONRAMP, "next": "https://evil.example/"})
    tenant.refresh_from_db()
    assert not tenant.admin_runs_exchange_writes
    events = AuditEvent.objects.filter(tenant=tenant, action=actions.SWITCH_EXCHANGE_WRITES).order_by("created_at")
    assert [(e.actor, e.detail["to"]) for e in events] == [("sam", "by_admin"), ("sam", "by_onramp")]


def test_a_viewer_cannot_switch():
    tenant = make_tenant("contoso", admin="alice")
    viewer = make_user("vic")
    Membership.objects.create(user=viewer, tenant=tenant, role=Role.VIEWER)
    client = Client()
    client.force_login(viewer)

    response = client.post(reverse("wizard:exchange_writes", args=[tenant.slug]), {"writes": ExchangeWrites.BY_ADMIN})

    assert response.status_code == 404
    tenant.refresh_from_db()
    assert not tenant.admin_runs_exchange_writes
    assert not AuditEvent.objects.filter(action=actions.SWITCH_EXCHANGE_WRITES).exists()


def test_no_drift_check_reads_exchange_for_an_organisation_whose_admin_makes_the_changes():
    tenant = make_tenant("contoso", admin="alice")
    Tenant.objects.filter(pk=tenant.pk).update(status="active")
    tenant.refresh_from_db()
    assert drift.checks_drift(tenant) and tenant in drift.checked_tenants()

    actions.set_exchange_writes(tenant, "alice", ExchangeWrites.BY_ADMIN)

    assert not drift.checks_drift(tenant) and tenant not in drift.checked_tenants()
    page = signed_in("alice").get(reverse("wizard:activation", args=[tenant.slug])).content.decode()
    assert "while its admin makes the Exchange changes" in page
