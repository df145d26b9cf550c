"""Issue 11.5: after activation, the optional last step hands Onramp's power back: it removes the certificate it signs
in with (an app may remove its own key), names the exact clicks and PowerShell for what an app cannot remove from
itself (its Exchange Administrator role, User.ReadWrite.All, a client secret), erases its own credential, records
each in the audit trail; verify afterwards says that it needs access granted again."""

import io
import json
from pathlib import Path

import msal
import requests
from django.core.management import call_command

from tenants.models import SecretKind, TenantStatus
from tenants.secrets import has_secret
from tests.factories import connect_to_sandbox, connected_tenant, run_inline, state_of
from wizard import drift
from wizard.models import DriftCheckStatus, StepStatus
from wizard.steps.exchange_online.connect import service as connect
from wizard.steps.exchange_online.rooms.service import all_rooms_inputs

ALL_ROOMS = {"rooms": all_rooms_inputs(confirmed=True)}
HAND_BACK = {"reduce_access": {"confirm": True}}


def _certificate_tenant(info):
    tenant = connected_tenant(info)
    credential = connect.certificate_credential(Path(info["client_certificate_file"]).read_text())
    return connect_to_sandbox(tenant, info, actor="test", client_certificate=credential)


def _certificate_token(info) -> dict:
    session = requests.Session()
    session.trust_env, session.verify = False, info["ca_bundle"]
    app = msal.ConfidentialClientApplication(
        info["client_id"],
        client_credential={
            "private_key": Path(info["client_certificate_file"]).read_text(),
            "thumbprint": info["certificate_thumbprint"],
        },
        authority=info["authority"],
        instance_discovery=False,
        http_client=session,
    )
    return app.acquire_token_for_client(scopes=[info["graph_scope"]])


def test_a_run_stops_at_activation_and_the_optional_step_is_not_run(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=2, equipment=0, users=1)
    tenant = connected_tenant(sandbox.info)

    outcome = run_steps(tenant, inputs=ALL_ROOMS)

    assert outcome.finished and outcome.ran[-1] == "activate" and "reduce_access" not in outcome.ran
    tenant.refresh_from_db()
    assert tenant.status == TenantStatus.ACTIVE and tenant in drift.checked_tenants()
    assert state_of(tenant, "reduce_access").status == StepStatus.NOT_STARTED
    refused = run_steps(tenant, start="reduce_access", until="reduce_access").stopped_at
    assert refused.error_code == "confirmation_needed"
    assert has_secret(tenant, SecretKind.CLIENT_SECRET)


def test_reduce_access_removes_its_certificate_and_names_the_rest(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=2, equipment=0, users=1)
    info = sandbox.info
    tenant = _certificate_tenant(info)
    assert run_steps(tenant, inputs=ALL_ROOMS).finished

    assert run_steps(tenant, start="reduce_access", until="reduce_access", inputs=HAND_BACK).finished

    result = state_of(tenant, "reduce_access").result
    assert result["credential"] == "certificate"
    assert f"Removed the certificate {info['certificate_thumbprint']} from the app registration" in [
        entry["what"] for entry in result["done"]
    ]
    role, permission = result["manual"]
    assert role["what"] == "Remove the Exchange Administrator role from Onramp's app"
    assert "Roles & admins → Exchange Administrator → Assignments" in role["clicks"]
    assert "Remove-MgRoleManagementDirectoryRoleAssignment" in role["powershell"]
    assert "User.ReadWrite.All" in permission["what"] and "Revoke permission" in permission["clicks"]
    assert "-AppRoleAssignmentId '" in permission["powershell"] and "<the" not in permission["powershell"]
    # Microsoft no longer accepts the certificate, and Onramp holds no credential for the organisation.
    refused = _certificate_token(info)
    assert refused["error_codes"] == [700027] and "The key was not found." in refused["error_description"]
    assert not has_secret(tenant, SecretKind.CLIENT_CERTIFICATE) and not has_secret(tenant, SecretKind.TOKEN_CACHE)
    actions = list(tenant.audit_events.filter(step_id="reduce_access").values_list("action", "outcome"))
    assert ("remove_certificate", "succeeded") in actions and ("erase_connector_credential", "succeeded") in actions
    assert actions.count(("hand_back", "left_to_admin")) == 2
    tenant.refresh_from_db()
    assert tenant.status == TenantStatus.ACTIVE
    assert tenant not in drift.checked_tenants()  # the nightly drift check cannot sign in any more

    reverify = run_steps(tenant, start="verify", until="verify").stopped_at

    assert reverify.status == StepStatus.FAILED and reverify.error_code == "access_handed_back"
    assert reverify.error_message.startswith("Re-verify needs access granted again")


def test_onramp_run_reduce_access_with_a_secret_leaves_deleting_it_to_the_admin(make_sandbox, run_steps):
    sandbox = make_sandbox(rooms=2, equipment=0, users=1)
    info = sandbox.info
    tenant = connected_tenant(info)
    assert run_steps(tenant, inputs=ALL_ROOMS).finished
    out = io.StringIO()

    call_command("onramp", "run", "--slug", tenant.slug, "--reduce-access", "--wait", stdout=out)

    result = state_of(tenant, "reduce_access").result
    role, permission, secret = result["manual"]
    assert secret["what"] == "Delete the client secret Onramp signed in with"
    assert f"the secret starting with “{info['client_secret'][:3]}” → Delete" in secret["clicks"]
    assert "Remove-MgApplicationPassword" in secret["powershell"] and "<the" not in secret["powershell"]
    assert not has_secret(tenant, SecretKind.CLIENT_SECRET)
    printed = out.getvalue()
    assert "reduce_access: succeeded." in printed
    assert "Left to you: Delete the client secret Onramp signed in with." in printed
    assert "Re-verify needs access granted again" in printed
    assert json.dumps(info["client_secret"]) not in json.dumps(result)


def test_after_a_hand_back_the_nightly_check_stops_until_the_organisation_connects_its_own_app_again(
    make_sandbox, run_steps
):
    sandbox = make_sandbox(rooms=2, equipment=0, users=1)
    info = sandbox.info
    tenant = connected_tenant(info)
    assert run_steps(tenant, inputs=ALL_ROOMS).finished
    assert tenant in drift.checked_tenants()
    call_command("onramp", "run", "--slug", tenant.slug, "--reduce-access", "--wait", stdout=io.StringIO())

    assert tenant not in drift.checked_tenants(), "checked with no credential: the default after a hand-back"

    # The organisation chooses the nightly check again: its own app registration's credentials on step 0, which
    # count once Microsoft accepted them (step 0 run again).
    connect_to_sandbox(tenant, info)
    assert tenant not in drift.checked_tenants(), "credentials not yet proven"
    assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED
    assert run_inline(tenant, "activate").status == StepStatus.SUCCEEDED
    assert tenant in drift.checked_tenants()
    check = drift.check_now(tenant, "test")
    assert check.status == DriftCheckStatus.DONE, check.error_message
