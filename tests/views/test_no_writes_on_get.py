"""Reading a page changes nothing (issue 24 point 2): every page of both profiles, the support console and the
progress poll, fetched with a query log, runs no INSERT, UPDATE or DELETE. Step rows are created with the
organisation, and by `migrate` for a step added to a profile later, never by a page."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tenants.models import Profile, Tenant
from wizard.actions import create_tenant
from wizard.apps import create_missing_step_states
from wizard.models import StepState
from wizard.steps.registry import steps_for

pytestmark = pytest.mark.django_db

# Django's session row is the framework's own bookkeeping (a message read off the session), not the product's.
WRITE = re.compile(r'^\s*(INSERT|UPDATE|DELETE)\b(?!.*"django_session")', re.IGNORECASE | re.DOTALL)


def _pages(tenant: Tenant) -> list[str]:
    """Every page of the organisation, and the progress poll of each step that has a row (nothing runs without)."""
    steps = [reverse("wizard:step", args=[tenant.slug, step.id]) for step in steps_for(tenant.profile)]
    with_rows = tenant.step_states.values_list("step_id", flat=True)
    polls = [reverse("wizard:progress", args=[tenant.slug, step_id]) for step_id in with_rows]
    return [
        reverse("orgs:home"),
        reverse("wizard:resume", args=[tenant.slug]),
        reverse("wizard:activation", args=[tenant.slug]),
        reverse("people:members", args=[tenant.slug]),
        *steps,
        *polls,
    ]


def _writes_while_reading(client: Client, urls: list[str]) -> list[str]:
    writes = []
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            answer = client.get(url)
        assert answer.status_code in (200, 302), (url, answer.status_code)
        writes += [f"{url}: {query['sql'][:160]}" for query in queries.captured_queries if WRITE.match(query["sql"])]
    return writes


@pytest.mark.parametrize("profile", [Profile.EXCHANGE_ONLINE, Profile.EXCHANGE_SERVER])
def test_no_page_writes(admin_user, admin_client, support_client, profile):
    tenant = create_tenant(creator=admin_user, display_name="Contoso", slug="contoso", profile=profile)
    # As if the profile gained a step after the organisation was created: its row does not exist yet.
    StepState.objects.filter(tenant=tenant, step_id=steps_for(profile)[-1].id).delete()

    assert _writes_while_reading(admin_client, _pages(tenant)) == []
    support = [reverse("orgs:support"), reverse("orgs:support_tenant", args=[tenant.slug])]
    assert _writes_while_reading(support_client, support) == []
    assert not StepState.objects.filter(tenant=tenant, step_id=steps_for(profile)[-1].id).exists()


def test_migrate_creates_the_rows_of_a_step_added_to_a_profile(admin_user):
    tenant = create_tenant(creator=admin_user, display_name="Contoso", slug="contoso")
    last = steps_for(tenant.profile)[-1].id
    StepState.objects.filter(tenant=tenant, step_id=last).delete()

    assert create_missing_step_states() == 1
    assert StepState.objects.filter(tenant=tenant, step_id=last).exists()
    assert create_missing_step_states() == 0
