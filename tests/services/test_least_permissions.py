"""Issue 11.3: Onramp asks for the least and probes all of it at step 0. The README lists exactly the permissions
step 0 probes, and a missing MailboxSettings.Read (needed only at step 2) is named at step 0."""

import re
from pathlib import Path

from tests.factories import connected_tenant, state_of
from wizard.models import StepStatus
from wizard.steps.exchange_online.connect.service import REQUIRED_EXCHANGE_ACCESS, REQUIRED_GRAPH_PERMISSIONS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_the_permissions_step_0_probes():
    text = README.read_text()
    section = text[text.index("## Connecting a real tenant") :]
    step = section[section.index("1. ") : section.index("2. ")]
    graph = step[: step.index("on Microsoft Graph")]

    assert set(re.findall(r"`([A-Za-z]+\.[A-Za-z.]+)`", graph)) == {name for name, _ in REQUIRED_GRAPH_PERMISSIONS}
    assert "Place.Read.All" not in section
    manage_as_app, admin_role = REQUIRED_EXCHANGE_ACCESS
    assert f"`{manage_as_app}`" in step and " ".join(step.split()).count(admin_role.removeprefix("the ")) == 1


def test_a_missing_mailbox_settings_permission_is_named_at_step_0(sandbox_tenant, run_steps):
    sandbox_tenant.control.remove_connector_permission("MailboxSettings.Read")
    tenant = connected_tenant(sandbox_tenant.info)

    failed = run_steps(tenant, until="connect").stopped_at

    assert failed.step_id == "connect" and failed.status == StepStatus.FAILED
    assert failed.error_code == "permissions_missing"
    assert failed.error_detail["missing_graph_permissions"] == ["MailboxSettings.Read"]

    sandbox_tenant.control.grant_permission("MailboxSettings.Read")
    assert run_steps(tenant, start="connect", until="connect").finished
    probed = state_of(tenant, "connect").result["permissions_probed"]
    assert "MailboxSettings.Read" in probed and "Place.Read.All" not in probed
