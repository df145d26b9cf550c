"""Known products as presets (issue 23 point 3): the integration picker offers the calendar products whose vendor
publishes its Entra app id, each from one place with its source; picking one stores that id through the same POST
as a search result, and the preset whose app is already in the tenant says so."""

import re
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import connected_tenant, make_user, run_inline
from wizard.models import AuditEvent, StepStatus
from wizard.steps.exchange_online.connect.presets import PRESETS, presets_in_tenant

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_every_preset_has_a_guid_shaped_app_id_and_a_public_source():
    assert PRESETS, "no preset is offered"
    for preset in PRESETS:
        assert GUID.fullmatch(preset.app_id), f"{preset.name}: {preset.app_id!r} is not an application id"
        source = urlparse(preset.source)
        assert source.scheme == "https" and source.netloc, f"{preset.name}: no public page states its id"
        assert str(preset.name).strip()
    app_ids = [preset.app_id for preset in PRESETS]
    assert len(app_ids) == len(set(app_ids)), "two presets name the same app"


@pytest.mark.django_db
class TestOnThePicker:
    @pytest.fixture
    def admin(self, sandbox_tenant):
        tenant = connected_tenant(sandbox_tenant.info, admin="alice")
        client = Client()
        client.force_login(make_user("alice"))
        return tenant, client

    def test_the_presets_render_with_their_source_and_picking_one_stores_its_id(self, admin):
        tenant, client = admin
        page = client.get(reverse("wizard:integration_picker", args=[tenant.slug])).content.decode()
        for preset in PRESETS:
            assert preset.app_id in page and preset.source.replace("&", "&amp;") in page
            assert f"Pick {preset.name}" in page
        chosen = PRESETS[-1]

        answer = client.post(
            reverse("wizard:choose_integration", args=[tenant.slug]), {"integration_app_id": chosen.app_id}
        )

        assert answer.status_code == 302
        tenant.refresh_from_db()
        assert tenant.integration_app_id == chosen.app_id
        assert AuditEvent.objects.filter(tenant=tenant, action="set_integration_app_id", actor="alice").exists()
        page = client.get(reverse("wizard:integration_picker", args=[tenant.slug])).content.decode()
        assert f"Pick {chosen.name}" not in page, "the chosen preset is still offered as a choice"

    def test_before_step_0_the_presets_are_offered_and_nothing_is_read(self, admin, sandbox_tenant):
        tenant, client = admin
        sandbox_tenant.control.reset_calls()
        page = client.get(reverse("wizard:integration_picker", args=[tenant.slug])).content.decode()
        assert all(f"Pick {preset.name}" in page for preset in PRESETS)
        assert "Already in your organisation" not in page
        assert sandbox_tenant.control.calls()["total"] == 0

    def test_the_preset_whose_app_is_in_the_tenant_is_marked(self, admin, sandbox_tenant):
        tenant, client = admin
        assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED
        there = PRESETS[0]
        sandbox_tenant.control.add_service_principal(there.app_id, "Zoom Rooms")

        assert presets_in_tenant(tenant) == {there.app_id}
        page = client.get(reverse("wizard:integration_picker", args=[tenant.slug])).content.decode()
        marked = page.split("Already in your organisation")
        assert len(marked) == 2, "not exactly one preset is marked as already in the organisation"
        assert there.app_id in marked[1].split("</li>")[0]
