"""Re-verify runs a step's check, and only for a step that has succeeded (issue 27 point 5): a support operator's
re-verify of steps that never started queued them, which turned them failed or needs-input, crashed two checks with
KeyError (emailing the admins) and ran the whole rooms step, which has no check. Now it is refused, on the page and
by the actions, changing nothing; a re-verification never runs the step's service, even when its message is sent
again without the flag; and a check with nothing saved to check says so instead of crashing."""

from html import escape

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import set_state, state_of
from wizard import actions, engine
from wizard.errors import ReverifyRefused
from wizard.models import AuditEvent, StepStatus
from wizard.steps.registry import steps_for

pytestmark = pytest.mark.django_db


def test_a_support_operator_re_verifying_steps_that_never_started_is_told_why_and_nothing_changes(
    tenant, support_client, pending_sends
):
    for step in steps_for(tenant.profile):
        action = reverse("wizard:action", args=[tenant.slug, step.id, "reverify"])
        page = support_client.post(action, follow=True).content.decode()
        expected = "has no check of its own" if step.verify is None else "it is not started, and only a step that"
        assert escape(f"“{step.title}” ") in page and expected in page, step.id

    assert {state.status for state in tenant.step_states.all()} == {StepStatus.NOT_STARTED}
    assert pending_sends() == 0
    assert not AuditEvent.objects.filter(tenant=tenant, action="reverify").exists()


@pytest.mark.parametrize(
    "status", [StepStatus.FAILED, StepStatus.NEEDS_INPUT, StepStatus.SKIPPED, StepStatus.INTERRUPTED]
)
def test_re_verify_is_refused_for_a_step_that_has_not_succeeded(tenant, pending_sends, status):
    set_state(tenant, "room_list", status=status)

    with pytest.raises(ReverifyRefused, match="“Room list” cannot be re-verified"):
        actions.submit_step(tenant, "room_list", "sam", action="reverify")

    assert state_of(tenant, "room_list").status == status
    assert pending_sends() == 0


def test_re_verify_of_a_succeeded_step_without_a_check_is_refused(tenant, pending_sends):
    set_state(tenant, "rooms", status=StepStatus.SUCCEEDED, finished_at=timezone.now())

    with pytest.raises(ReverifyRefused, match="“Rooms” has no check of its own"):
        actions.submit_step(tenant, "rooms", "sam", action="reverify")

    assert state_of(tenant, "rooms").status == StepStatus.SUCCEEDED
    assert pending_sends() == 0


def test_a_re_verification_whose_message_lost_the_flag_still_runs_only_the_check(tenant):
    # The message is sent again by the watchdog (redeliver_lost_tasks, an automatic resume) without the flag: the
    # row says the run is a re-verification. The room list's service would fail on the service account first.
    set_state(tenant, "room_list", status=StepStatus.SUCCEEDED, result={})
    state = actions.submit_step(tenant, "room_list", "sam", action="reverify", send_task=False)

    engine.execute_step(state.pk, state.task_id)

    state = state_of(tenant, "room_list")
    assert (state.status, state.error_code) == (StepStatus.FAILED, "nothing_to_check")


def test_a_re_verification_of_a_step_without_a_check_never_runs_its_service(tenant):
    set_state(tenant, "rooms", status=StepStatus.QUEUED, task_id="lost-message")

    engine.execute_step(state_of(tenant, "rooms").pk, "lost-message", verify_only=True)

    state = state_of(tenant, "rooms")
    assert (state.status, state.error_code) == (StepStatus.FAILED, "nothing_to_reverify")


@pytest.mark.parametrize("step_id", ["service_account", "room_list", "scoped_access"])
def test_a_check_with_no_saved_result_says_so_instead_of_crashing(tenant, step_id):
    set_state(tenant, step_id, status=StepStatus.QUEUED, task_id="check", result={})

    engine.execute_step(state_of(tenant, step_id).pk, "check", verify_only=True)

    state = state_of(tenant, step_id)
    assert (state.status, state.error_code) == (StepStatus.FAILED, "nothing_to_check"), state.error_message
    assert state.error_message == "This step has not finished, so there is nothing to check yet."
