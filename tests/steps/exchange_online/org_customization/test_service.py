"""Step 1 against Exchange's answers about organisation customisation."""

import pytest

from tests.factories import connected_tenant, run_inline
from wizard.models import StepStatus

pytestmark = pytest.mark.django_db


def test_step_1_moves_on_when_exchange_says_the_organisation_is_already_customised(make_sandbox):
    # Customisation finished (an earlier request), yet Get-OrganizationConfig still reads IsDehydrated True from a
    # replica; Enable-OrganizationCustomization then answers InvalidOperationException "not required" (WIRE.md [I19]).
    sandbox = make_sandbox(rooms=2, dehydrated=True, dehydrated_read_lag_s=3600)
    sandbox.control.invoke("Enable-OrganizationCustomization")
    assert sandbox.control.invoke("Get-OrganizationConfig")[0]["IsDehydrated"] is True
    tenant = connected_tenant(sandbox.info)
    assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED

    state = run_inline(tenant, "org_customization")

    assert state.status == StepStatus.SUCCEEDED, (state.error_code, state.error_message)
    assert state.result["is_dehydrated"] is False and state.result["customization_confirmed_at"] is not None
    assert "Enable-OrganizationCustomization" in sandbox.control.calls()["write_calls"]
