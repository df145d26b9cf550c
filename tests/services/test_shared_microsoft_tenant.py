"""Two Onramp organisations on one Microsoft tenant (issue 15.2 / 14.2): step 0 warns, names the other organisation
only to those allowed to see it, and waits for an explicit, audited decision; without it nothing is taken over."""

import io
import json

import pytest
from django.core.management import call_command

from tenants.access import organisations_sharing
from tenants.models import Membership, Role
from tests.factories import connected_tenant, make_user, run_inline, sandbox_connect_arguments, state_of
from wizard import actions
from wizard.models import AuditEvent, StepStatus
from wizard.steps.exchange_online.connect.service import SHARE_ACTION, SHARE_DECIDED_BY, SHARE_INPUT, SHARED_RESULT

pytestmark = pytest.mark.django_db


@pytest.fixture
def first(sandbox_tenant):
    tenant = connected_tenant(sandbox_tenant.info, "contoso", admin="alice", name="Contoso Facilities")
    assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED
    return tenant


@pytest.fixture
def second(sandbox_tenant, first):
    return connected_tenant(sandbox_tenant.info, "contoso-emea", admin="bob", name="Contoso EMEA")


def test_a_second_organisation_on_the_same_microsoft_tenant_waits_for_a_decision(second, sandbox_tenant):
    state = run_inline(second, "connect")

    assert state.status == StepStatus.NEEDS_INPUT
    assert "already connected to another Onramp organisation" in state.progress_message
    assert "Contoso Facilities" not in state.progress_message  # the page names it, to those who may see it
    assert state.result[SHARED_RESULT] == {"microsoft_tenant_id": sandbox_tenant.info["tenant_id"], "organisations": 1}
    assert not AuditEvent.objects.filter(action=SHARE_ACTION).exists()
    # Nothing is taken over: the steps that would adopt the service account and room lists cannot run.
    with pytest.raises(actions.PrerequisiteNotDone, match="run “Connect the tenant” first"):
        actions.submit_step(second, "service_account", "bob", inputs={})
    assert state_of(second, "service_account").status == StepStatus.NOT_STARTED


def test_the_explicit_decision_connects_and_is_audited_once(second, sandbox_tenant):
    decision = {SHARE_INPUT: True, SHARE_DECIDED_BY: "bob"}

    assert run_inline(second, "connect", inputs=decision).status == StepStatus.SUCCEEDED
    assert run_inline(second, "connect", inputs=decision).status == StepStatus.SUCCEEDED

    events = AuditEvent.objects.filter(tenant=second, action=SHARE_ACTION)
    assert [(event.actor, event.step_id, event.detail) for event in events] == [
        ("bob", "connect", {"microsoft_tenant_id": sandbox_tenant.info["tenant_id"], "other_organisations": 1})
    ]


def test_an_organisation_alone_on_its_microsoft_tenant_is_not_asked(first):
    assert run_inline(first, "connect").status == StepStatus.SUCCEEDED
    assert not state_of(first, "connect").result.get(SHARED_RESULT)
    assert not AuditEvent.objects.filter(action=SHARE_ACTION).exists()


def test_the_other_organisation_is_named_only_to_those_allowed_to_see_it(first, second):
    # The second organisation's step 0 proves the tenant is reachable with its own app, then asks to share.
    assert run_inline(second, "connect").status == StepStatus.NEEDS_INPUT
    bob, alice = make_user("bob"), make_user("alice")
    support = make_user("sam", is_staff=True)

    hidden = organisations_sharing(bob, second)
    assert (hidden.visible, hidden.hidden) == ([], 1)
    assert bool(hidden)
    assert organisations_sharing(support, second).visible == [first]
    Membership.objects.create(user=alice, tenant=second, role=Role.VIEWER)
    assert organisations_sharing(alice, second).visible == [first]
    assert organisations_sharing(alice, first).visible == [second]


def test_onramp_connect_needs_share_microsoft_tenant(second, sandbox_tenant, tmp_path):
    info = tmp_path / "sandbox.json"
    info.write_text(json.dumps(sandbox_tenant.info))
    err = io.StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("onramp", "connect", "--slug", "contoso-emea", *sandbox_connect_arguments(info), stderr=err)

    assert exit_info.value.code == 2
    assert "connect needs a decision: This Microsoft tenant is already connected" in err.getvalue()
    assert "Bound to the same Microsoft tenant: contoso." in err.getvalue()
    assert "--share-microsoft-tenant" in err.getvalue()

    out = io.StringIO()
    call_command(
        "onramp",
        "connect",
        "--slug",
        "contoso-emea",
        *sandbox_connect_arguments(info),
        "--share-microsoft-tenant",
        "--actor",
        "ops",
        stdout=out,
    )

    assert "Connected contoso-emea to Contoso" in out.getvalue()
    assert AuditEvent.objects.filter(tenant=second, action=SHARE_ACTION, actor="ops").count() == 1
