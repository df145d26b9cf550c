"""Test data and shortcuts, one of each: users, tenants (bare or connected to a sandbox), step states, and a step
run inline in the test's own process (for service tests where the worker is not what is tested)."""

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model

from sandbox.onramp import connect_arguments
from tenants.models import BindingProof, Cloud, Tenant
from wizard import actions, engine, headless
from wizard.models import Room, StepState
from wizard.outcomes import Submission
from wizard.steps.exchange_online.connect import service as connect
from wizard.steps.exchange_online.rooms import service as rooms
from wizard.steps.registry import get_step

PASSWORD = "pw-correct-horse-1"


def make_user(username: str, **fields: Any) -> Any:
    users = get_user_model()
    user = users.objects.filter(username=username).first()
    return user or users.objects.create_user(username, password=PASSWORD, **fields)


def make_tenant(slug: str = "contoso", *, admin: str | None = None, name: str = "Contoso", **fields: Any) -> Tenant:
    """A tenant created the way the page creates one, administered by `admin` (default: admin-<slug>)."""
    creator = make_user(admin or f"admin-{slug}")
    return actions.create_tenant(creator=creator, display_name=name, slug=slug, **fields)


# The sandbox info file's keys that are a tenant's explicit endpoints (Cloud.CUSTOM), as the connect page names them.
SANDBOX_ENDPOINT_KEYS = ("authority", "graph_url", "exchange_admin_url", "ews_url", "ca_bundle")


def on_sandbox_cloud(tenant: Tenant, info: dict[str, Any]) -> Tenant:
    """An organisation whose cloud is a sandbox's (the installation vouches for it, as for Microsoft's clouds), with
    no credentials and no Microsoft tenant id: what a new organisation on the worldwide cloud is."""
    Tenant.objects.filter(pk=tenant.pk).update(
        cloud=Cloud.CUSTOM, custom_endpoints={key: info[key] for key in SANDBOX_ENDPOINT_KEYS}
    )
    return Tenant.objects.get(pk=tenant.pk)


def connect_to_sandbox(
    tenant: Tenant, info: dict[str, Any], *, actor: str = "test", client_certificate: str | None = None
) -> Tenant:
    """Point a tenant at a sandbox by its info file: its explicit endpoints and both apps' credentials (the connector
    app's `client_certificate` instead of its secret when given), saved by the service the connect page and
    `onramp connect` use. Step 0 is not run."""
    return connect.save_app_credentials(
        tenant,
        actor=actor,
        microsoft_tenant_id=info["tenant_id"],
        client_id=info["client_id"],
        client_secret=None if client_certificate else info["client_secret"],
        client_certificate=client_certificate,
        integration_app_id=info["integration_app_id"],
        integration_client_secret=info.get("integration_client_secret"),
        cloud=Cloud.CUSTOM,
        custom_endpoints={key: info[key] for key in SANDBOX_ENDPOINT_KEYS if info.get(key)},
    )


def bound_by_proof(
    tenant: Tenant, microsoft_tenant_id: str, proven_by: str = "admin@contoso.onmicrosoft.com"
) -> Tenant:
    """An organisation whose administrator proved `microsoft_tenant_id` is theirs (as "Connect with Microsoft" ends),
    recorded by the service that records every binding."""
    return connect.bind_microsoft_tenant(
        tenant,
        microsoft_tenant_id=microsoft_tenant_id,
        proof=BindingProof.ADMIN_SIGN_IN,
        proven_by=proven_by,
        actor=proven_by,
    )


def connected_tenant(info: dict[str, Any], slug: str = "contoso", *, admin: str | None = None, **fields: Any) -> Tenant:
    """A new tenant pointed at a sandbox by its info file (connect_to_sandbox)."""
    return connect_to_sandbox(make_tenant(slug, admin=admin, **fields), info, actor=admin or "test")


def sandbox_connect_arguments(info_file: Path) -> list[str]:
    """`onramp connect`'s arguments for the sandbox of this info file, as `python -m sandbox onramp-connect --info`
    prints them (its secrets written to files beside the info file)."""
    return connect_arguments(json.loads(info_file.read_text()), info_file)


def state_of(tenant: Tenant, step_id: str) -> StepState:
    return StepState.objects.get(tenant=tenant, step_id=step_id)


def set_state(tenant: Tenant, step_id: str, **fields: Any) -> StepState:
    """Put a step in a status directly: for tests of pages and services, not of the engine."""
    StepState.objects.filter(tenant=tenant, step_id=step_id).update(**fields)
    return state_of(tenant, step_id)


def inputs_from_form(tenant: Tenant, step_id: str, cleaned_data: dict[str, Any], actor: str = "test") -> dict:
    """What the step saves from a valid form: its `save_inputs`, as wizard.actions.submit_step calls it."""
    step = get_step(tenant.profile, step_id)
    return step.save_inputs(Submission(tenant, dict(state_of(tenant, step_id).inputs), cleaned_data, actor))


def run_inline(tenant: Tenant, step_id: str, *, inputs: dict[str, Any] | None = None, actor: str = "test") -> StepState:
    """Queue the step without sending its task and run it here, through the engine, against whatever Microsoft the
    tenant points at. For steps that end at once (done, failed, needs input); a step that waits is re-sent to the
    worker by the engine, as always."""
    state = actions.submit_step(tenant, step_id, actor, inputs=inputs, send_task=False)
    engine.execute_step(state.pk, state.task_id)
    return state_of(tenant, step_id)


def activated_tenant(info: dict[str, Any], slug: str = "contoso", *, admin: str | None = None) -> Tenant:
    """A tenant walked through every step on the worker (which the caller has started), every room mailbox
    placed: an organisation as the drift check finds it."""
    tenant = connected_tenant(info, slug, admin=admin)
    outcome = headless.run_steps(
        tenant,
        actor="test",
        start="connect",
        inputs={"rooms": rooms.all_rooms_inputs(confirmed=True)},
        wait_on_microsoft=True,
        on_update=lambda state: None,
        timeout=180,
    )
    assert outcome.finished, (outcome.stopped_at.step_id, outcome.stopped_at.error_message)
    tenant.refresh_from_db()
    return tenant


def activated_like(first: Tenant, info: dict[str, Any], slug: str) -> Tenant:
    """Another organisation on `first`'s Microsoft tenant, activated with the same setup: its steps' results and rooms
    copied (activating it through the worker would only repeat the same writes)."""
    tenant = connected_tenant(info, slug)
    for state in StepState.objects.filter(tenant=first):
        StepState.objects.filter(tenant=tenant, step_id=state.step_id).update(
            status=state.status, result=state.result, inputs=state.inputs, finished_at=state.finished_at
        )
    Room.objects.bulk_create(
        Room(
            tenant=tenant,
            address=room.address,
            room_list=room.room_list,
            membership_status=room.membership_status,
            verification_status=room.verification_status,
        )
        for room in Room.objects.filter(tenant=first)
    )
    tenant.status = first.status
    tenant.save()
    return tenant
