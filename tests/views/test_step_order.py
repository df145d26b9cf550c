"""Steps run in order (issue 15, item 3): a step whose prerequisites are not done offers no Run button and names
the step to finish first; wizard.actions refuses it whoever asks; the support console shows such a tenant by the
step that failed."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import set_state, state_of
from wizard import actions
from wizard.models import AuditEvent, StepStatus
from wizard.steps.registry import prerequisites, steps_for

pytestmark = pytest.mark.django_db


def test_every_later_step_builds_on_an_earlier_one():
    for profile in ("exchange_online", "exchange_server"):
        steps = steps_for(profile)
        assert steps[0].requires == ()
        for step in steps[1:]:
            assert step.requires, f"{profile}/{step.id} declares no prerequisite"
    assert [step.id for step in prerequisites("exchange_online", "rooms")] == [
        "connect",
        "service_account",
        "room_list",
    ]


def test_a_step_before_its_prerequisites_offers_no_run_button_and_names_the_first(tenant, admin_client):
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "room_list"])).content.decode()
    assert ">Run this step</button>" not in page
    assert "builds on “Connect the tenant”" in page
    assert f'href="{reverse("wizard:step", args=[tenant.slug, "connect"])}"' in page


def test_once_the_prerequisites_are_done_the_run_button_is_back(tenant, admin_client):
    for step_id in ("connect", "service_account"):
        set_state(tenant, step_id, status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "room_list"])).content.decode()
    assert ">Run this step</button>" in page and "builds on" not in page


def test_posting_run_out_of_order_is_refused_with_the_step_to_run_first(tenant, admin_client, pending_sends):
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED)
    response = admin_client.post(reverse("wizard:run", args=[tenant.slug, "room_list"]), {"name": "Rooms"}, follow=True)
    page = response.content.decode()
    assert "“Room list” builds on “Service account”, which has not finished" in page
    assert state_of(tenant, "room_list").status == StepStatus.NOT_STARTED
    assert state_of(tenant, "room_list").inputs == {}
    assert pending_sends() == 0
    assert not AuditEvent.objects.filter(tenant=tenant, step_id="room_list").exists()


def test_actions_refuse_out_of_order_but_allow_a_recheck(tenant, pending_sends):
    with pytest.raises(actions.PrerequisiteNotDone) as refusal:
        actions.submit_step(tenant, "verify", "alice")
    assert refusal.value.first.id == "connect"
    assert "run “Connect the tenant” first" in str(refusal.value)
    # An earlier step re-run and failed: a later finished step may still be re-checked, not run again.
    set_state(tenant, "room_list", status=StepStatus.SUCCEEDED)
    assert actions.submit_step(tenant, "room_list", "alice", action="reverify").status == StepStatus.QUEUED


def test_a_failed_step_whose_prerequisite_is_undone_offers_no_retry(tenant, admin_client, support_client):
    set_state(tenant, "room_list", status=StepStatus.FAILED, error_code="not_ready", error_message="Not ready.")
    retry = reverse("wizard:action", args=[tenant.slug, "room_list", "retry"])
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "room_list"])).content.decode()
    assert retry not in page and "builds on “Connect the tenant”" in page
    console = support_client.get(reverse("orgs:support_tenant", args=[tenant.slug])).content.decode()
    assert retry not in console and "After “Connect the tenant”" in console


def test_failed_filter_lists_a_tenant_by_its_failed_step_not_as_not_started(tenant, other_tenant, support_client):
    # Run out of order before the rule existed: step 3 failed while step 1 never started.
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED)
    set_state(tenant, "room_list", status=StepStatus.FAILED, error_message="“Service account” has not finished yet")
    page = support_client.get(reverse("orgs:support"), {"filter": "failed"}).content.decode()
    row = page[page.index("Contoso") : page.index("</tr>", page.index("Contoso"))]
    assert "Room list" in row and "Failed" in row
    assert "Not started" not in row
    assert "Fabrikam" not in page
