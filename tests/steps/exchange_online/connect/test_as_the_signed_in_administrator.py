"""Connected with Microsoft, Onramp acts with the signed-in administrator's own rights (issue 23 point 1): the
steps call Graph and InvokeCommand with the kept sign-in's delegated tokens, Onramp's app holds no application
permission and no directory role in the tenant, and the person's directory roles are checked against what every
step does before anything is bound or written, each missing role named."""

import pytest
from django.contrib.messages import get_messages

from tests.factories import make_tenant, on_sandbox_cloud, run_inline
from tests.people.conftest import answer_sign_in_page
from tests.security.test_connect_by_proof import GLOBAL_ADMIN, admin_client, local, start_connect
from tests.security.test_kept_sign_in import connect_with_microsoft, run_to_rooms
from wizard.admin_roles import EXCHANGE_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR, USER_ADMINISTRATOR
from wizard.models import AuditEvent, StepStatus

pytestmark = pytest.mark.django_db

PERSON = "user-002@contoso.onmicrosoft.com"


@pytest.fixture
def onramps_app(settings, make_sandbox):
    sandbox = make_sandbox(rooms=20)
    settings.ONRAMP_CONNECTOR_CLIENT_ID = sandbox.info["onramp_app_id"]
    settings.ONRAMP_CONNECTOR_CLIENT_SECRET = sandbox.info["onramp_app_secret"]
    return sandbox


def test_the_steps_write_as_the_administrator_while_onramps_app_holds_no_power_of_its_own(onramps_app):
    info = onramps_app.info
    tenant = connect_with_microsoft(onramps_app, admin_client("alice"))

    run_to_rooms(tenant)

    held = onramps_app.control.app_permissions(info["onramp_app_id"])
    assert held == {"app_roles": [], "exchange_app_roles": [], "directory_roles": []}, held
    writes = onramps_app.control.calls()["write_calls"]
    assert writes.get("New-DistributionGroup") == 1, writes  # the room list, written through InvokeCommand
    created = AuditEvent.objects.filter(tenant=tenant, action="create_room_list")
    assert {event.detail.get("ran_under") for event in created} == {GLOBAL_ADMIN}


def test_someone_who_may_consent_but_not_change_exchange_or_users_is_told_which_roles_before_anything(onramps_app):
    info = onramps_app.info
    onramps_app.control.set_directory_roles(PERSON, [PRIVILEGED_ROLE_ADMINISTRATOR])
    tenant = on_sandbox_cloud(make_tenant("contoso", admin="alice"), info)
    client = admin_client("alice")
    onramps_app.control.reset_calls()

    sign_in = start_connect(client, tenant, info)
    answer = client.get(local(answer_sign_in_page(info, sign_in["Location"], PERSON)))
    while answer.status_code == 302 and "/t/" not in answer["Location"]:  # a second sign-in to read the roles
        answer = client.get(local(answer_sign_in_page(info, answer["Location"], PERSON)))

    said = " ".join(str(message) for message in get_messages(answer.wsgi_request))
    assert "Privileged Role Administrator" in said, said
    assert "to change Exchange Online, Global Administrator or Exchange Administrator" in said, said
    assert "to create and license the service account, Global Administrator or User Administrator" in said, said
    tenant.refresh_from_db()
    assert not tenant.microsoft_tenant_id and not tenant.binding_proof, "bound without the roles the steps need"
    assert onramps_app.control.calls()["writes"] == 0
    refused = AuditEvent.objects.get(tenant=tenant, action="connect_with_microsoft", outcome="refused")
    assert refused.detail["reason"] == "administrator_roles_missing"


def test_before_its_writes_a_step_names_the_role_its_administrator_lost_and_a_pair_of_roles_will_do(onramps_app):
    tenant = connect_with_microsoft(onramps_app, admin_client("alice"))
    onramps_app.control.set_directory_roles(GLOBAL_ADMIN, [EXCHANGE_ADMINISTRATOR])
    onramps_app.control.reset_calls()

    refused = run_inline(tenant, "service_account")

    assert refused.status == StepStatus.FAILED and refused.error_code == "administrator_roles_missing"
    assert "Exchange Administrator" in refused.error_message
    assert "to create and license the service account, Global Administrator or User Administrator" in (
        refused.error_message
    )
    assert onramps_app.control.calls()["writes"] == 0, "a write before the roles were checked"

    onramps_app.control.set_directory_roles(GLOBAL_ADMIN, [EXCHANGE_ADMINISTRATOR, USER_ADMINISTRATOR])
    state = run_inline(tenant, "org_customization")
    assert state.status == StepStatus.SUCCEEDED, state.error_message
    assert run_inline(tenant, "service_account").status in (StepStatus.SUCCEEDED, StepStatus.WAITING)
