"""Verify's negative control on Exchange Server is a mailbox the admin names, never the service account: whether
Exchange lets an account impersonate itself is undocumented, so its refusal would prove nothing (issue 25 point 8)."""

import pytest

from tests.exchange_server.conftest import SERVICE_ACCOUNT
from tests.factories import set_state, state_of
from wizard.actions import create_tenant
from wizard.errors import StepError
from wizard.outcomes import NeedsInput, StepContext
from wizard.steps.exchange_server.verify import service as verify
from wizard.steps.exchange_server.verify.form import ExchangeServerVerifyForm

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(django_user_model):
    admin = django_user_model.objects.create_user("admin")
    tenant = create_tenant(creator=admin, display_name="Contoso", slug="onprem", profile="exchange_server")
    set_state(tenant, "connect", result={"service_account_upn": SERVICE_ACCOUNT}, status="succeeded")
    set_state(tenant, "scoped_access", result={"scope_name": "Rooms scope"}, status="succeeded")
    return tenant


def _verify(tenant, control: str):
    state = state_of(tenant, "verify")
    state.inputs = {"control_mailbox": control} if control else {}
    return verify.perform(StepContext(tenant=tenant, state=state, actor="admin", progress=lambda p, m: None))


def test_without_a_control_mailbox_verify_asks_for_one(tenant):
    outcome = _verify(tenant, "")
    assert isinstance(outcome, NeedsInput) and "neither a room nor the service account" in outcome.reason


def test_the_service_account_is_refused_as_the_control(tenant):
    with pytest.raises(StepError) as refused:
        _verify(tenant, SERVICE_ACCOUNT.upper())
    assert refused.value.code == "control_is_service_account"


def test_the_form_requires_the_control_mailbox(tenant):
    form = ExchangeServerVerifyForm({}, tenant=tenant, state=state_of(tenant, "verify"))
    assert not form.is_valid()
    assert form.errors["control_mailbox"] == ["Enter a mailbox that is neither a room nor the service account."]
