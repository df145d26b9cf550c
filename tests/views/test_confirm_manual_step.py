"""The manual steps' "I ran these commands" button (Exchange Server): it posts the digest of the script the page
showed; the confirmation is recorded and the check queued together; a stale page is told so and nothing is
recorded; support cannot confirm what an admin ran in their shell."""

import re

from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from tenants.models import Profile
from tests.factories import set_state
from wizard.actions import create_tenant
from wizard.models import AuditEvent, StepState, StepStatus


def onprem(admin_user):
    """An Exchange Server organisation whose steps before the room list are done."""
    tenant = create_tenant(creator=admin_user, display_name="Onprem", slug="onprem", profile=Profile.EXCHANGE_SERVER)
    for step_id in ("service_account", "connect"):
        set_state(tenant, step_id, status=StepStatus.SUCCEEDED)
    return tenant


def shown_digest(client, tenant, step_id: str) -> str:
    page = client.get(reverse("wizard:step", args=[tenant.slug, step_id])).content.decode()
    assert "I ran these commands" in page
    return re.search(r'name="script_sha256" value="([0-9a-f]{64})"', page).group(1)


def test_confirming_records_the_script_and_queues_the_check(admin_user, admin_client, pending_sends):
    tenant = onprem(admin_user)
    digest = shown_digest(admin_client, tenant, "room_list")

    response = admin_client.post(reverse("wizard:confirm", args=[tenant.slug, "room_list"]), {"script_sha256": digest})

    assert response.status_code == 302
    event = AuditEvent.objects.get(tenant=tenant, action="confirm_manual", step_id="room_list")
    assert event.actor == "alice" and event.detail == {"script_sha256": digest}
    assert StepState.objects.get(tenant=tenant, step_id="room_list").status == StepStatus.QUEUED
    assert AuditEvent.objects.filter(tenant=tenant, action="confirm", outcome="queued").exists()


def test_a_stale_page_is_told_and_nothing_is_recorded(admin_user, admin_client, pending_sends):
    tenant = onprem(admin_user)
    stale = shown_digest(admin_client, tenant, "room_list")
    StepState.objects.filter(tenant=tenant, step_id="room_list").update(
        inputs={"name": "Other rooms", "alias": "other-rooms", "address": ""}
    )

    response = admin_client.post(reverse("wizard:confirm", args=[tenant.slug, "room_list"]), {"script_sha256": stale})

    words = " ".join(str(message) for message in get_messages(response.wsgi_request))
    assert "not the current ones" in words and "run the commands it shows" in words
    assert not AuditEvent.objects.filter(tenant=tenant, action="confirm_manual").exists()
    assert StepState.objects.get(tenant=tenant, step_id="room_list").status == StepStatus.NOT_STARTED
    assert shown_digest(admin_client, tenant, "room_list") != stale


def test_support_cannot_confirm(admin_user, support_user):
    tenant = onprem(admin_user)
    support = Client()
    support.force_login(support_user)

    response = support.post(reverse("wizard:confirm", args=[tenant.slug, "room_list"]), {"script_sha256": "0" * 64})

    assert response.status_code == 404
    assert not AuditEvent.objects.filter(tenant=tenant, action="confirm_manual").exists()


def test_a_step_whose_earlier_steps_are_not_done_is_not_confirmed(admin_user, admin_client):
    tenant = onprem(admin_user)
    digest = shown_digest(admin_client, tenant, "room_list")
    set_state(tenant, "connect", status=StepStatus.FAILED)

    response = admin_client.post(reverse("wizard:confirm", args=[tenant.slug, "room_list"]), {"script_sha256": digest})

    words = " ".join(str(message) for message in get_messages(response.wsgi_request))
    assert "run “Connect to Exchange Server” first" in words
    assert not AuditEvent.objects.filter(tenant=tenant, action="confirm_manual").exists()


def test_a_step_onramp_runs_is_not_confirmed(tenant, admin_client):
    response = admin_client.post(reverse("wizard:confirm", args=[tenant.slug, "rooms"]), {"script_sha256": "0" * 64})

    words = " ".join(str(message) for message in get_messages(response.wsgi_request))
    assert "not a step you run yourself" in words
