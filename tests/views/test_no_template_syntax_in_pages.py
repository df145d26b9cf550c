"""No Django template syntax reaches a page: a `{# … #}` comment spanning lines is not a comment to Django, and
it showed as text on the Rooms pages of both profiles and on the support console's organisation page."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tenants.models import Profile, Tenant
from tests.views.test_step_results import ONLINE_RESULTS, SERVER_RESULTS, page_of
from wizard.actions import create_tenant
from wizard.steps.registry import steps_for

pytestmark = pytest.mark.django_db

TEMPLATE_SYNTAX = re.compile(r"\{#|#\}|\{%|%\}")


def _without_template_syntax(page: str) -> None:
    found = TEMPLATE_SYNTAX.search(page)
    assert found is None, page[max(found.start() - 200, 0) : found.end() + 200]


def _step_ids(tenant: Tenant) -> list[str]:
    return [step.id for step in steps_for(tenant.profile)]


def test_exchange_online_step_pages_before_and_after_their_step(tenant: Tenant, admin_client: Client):
    for step_id in _step_ids(tenant):
        before = admin_client.get(reverse("wizard:step", args=[tenant.slug, step_id]))
        assert before.status_code == 200, step_id
        _without_template_syntax(before.content.decode())
        if step_id in ONLINE_RESULTS:
            _without_template_syntax(page_of(admin_client, tenant, step_id, ONLINE_RESULTS[step_id]))


def test_exchange_server_step_pages_before_and_after_their_step(admin_user, admin_client: Client):
    tenant = create_tenant(creator=admin_user, display_name="Onprem", slug="onprem", profile=Profile.EXCHANGE_SERVER)
    for step_id in _step_ids(tenant):
        before = admin_client.get(reverse("wizard:step", args=[tenant.slug, step_id]))
        assert before.status_code == 200, step_id
        _without_template_syntax(before.content.decode())
        if step_id in SERVER_RESULTS:
            _without_template_syntax(page_of(admin_client, tenant, step_id, SERVER_RESULTS[step_id]))


def test_organisation_pages(tenant: Tenant, admin_client: Client):
    for url in (
        reverse("orgs:home"),
        reverse("orgs:create"),
        reverse("wizard:activation", args=[tenant.slug]),
        reverse("people:members", args=[tenant.slug]),
    ):
        answer = admin_client.get(url)
        assert answer.status_code == 200, url
        _without_template_syntax(answer.content.decode())


def test_support_console_pages(tenant: Tenant, support_client: Client):
    page_of(support_client, tenant, "rooms", ONLINE_RESULTS["rooms"])  # a tenant with a finished step
    for url in (reverse("orgs:support"), reverse("orgs:support_tenant", args=[tenant.slug])):
        answer = support_client.get(url)
        assert answer.status_code == 200, url
        _without_template_syntax(answer.content.decode())


def test_sign_in_page(client: Client):
    _without_template_syntax(client.get(reverse("login")).content.decode())


def test_no_template_comment_spans_lines():
    """Django's `{# … #}` is one line only; a longer comment is `{% comment %}`."""
    spanning = []
    templates = [
        *Path(settings.BASE_DIR, "templates").rglob("*.html"),
        *Path(settings.BASE_DIR, "wizard").rglob("*.html"),
    ]
    for template in sorted(templates):
        for number, line in enumerate(template.read_text().splitlines(), start=1):
            if line.count("{#") != line.count("#}"):
                spanning.append(f"{template.relative_to(settings.BASE_DIR)}:{number}")
    assert spanning == []
