"""What step 1 tells the admin about EWS depends on where today falls in Microsoft's retirement timeline."""

from datetime import date

import pytest

from tests.factories import connected_tenant, state_of
from wizard.steps.exchange_online.org_customization.service import default_ews_summary, ews_state


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 9, 30), "allowed until 1 October 2026"),
        (date(2026, 11, 25), "since 1 October 2026 blocks it"),
        (date(2027, 4, 1), "switched off in Exchange Online since 1 April 2027"),
    ],
)
def test_default_ews_summary_follows_the_calendar(today, expected):
    assert expected in default_ews_summary(today)


def test_explicit_settings_win_over_the_default():
    assert "switched off for this organisation" in ews_state({"EwsEnabled": False})["ews_summary"]
    allow_list = ews_state({"EwsApplicationAccessPolicy": "EnforceAllowList", "EwsAllowList": ["app"]})
    assert "allow list" in allow_list["ews_summary"]
    assert allow_list["ews_allow_list"] == ["app"]


APP = "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
TODAY = date(2026, 11, 26)


@pytest.mark.parametrize(
    ("config", "works", "reason"),
    [
        ({}, False, "since 1 October 2026 means EWS is blocked"),
        ({"EwsEnabled": True, "EwsAllowedAppIDs": [APP.upper()]}, True, f"EwsAllowedAppIDs lists {APP}"),
        ({"EwsEnabled": True, "EwsAllowedAppIDs": ["0000aaaa-0000-0000-0000-000000000000"]}, False, "but not"),
        ({"EwsEnabled": True, "EwsAllowedAppIDs": []}, True, "every app may use EWS"),
        # Exchange takes (and may hand back) the list as one comma-separated value.
        ({"EwsEnabled": True, "EwsAllowedAppIDs": f"0000aaaa-0000-0000-0000-000000000000,{APP}"}, True, "lists"),
        ({"EwsEnabled": True, "EwsAllowedAppIDs": [f"0000aaaa-0000-0000-0000-000000000000, {APP}"]}, True, "lists"),
        ({"EwsEnabled": False, "EwsAllowedAppIDs": [APP]}, False, "EwsEnabled is False"),
    ],
)
def test_the_integrations_own_ews_calls_are_judged_by_ews_enabled_and_the_app_id_allow_list(config, works, reason):
    state = ews_state(config, APP, TODAY)

    assert state["integration_ews_now"] is works
    assert state["integration_ews_after_shutdown"] is False
    assert reason in state["integration_ews_summary"]
    assert "After 1 April 2027 it will not work" in state["ews_summary"]
    assert "Microsoft Graph before 1 April 2027" in state["integration_ews_fix"]
    if not works and config.get("EwsEnabled") is not False:
        assert "-EwsEnabled $true -EwsAllowedAppIDs" in state["integration_ews_fix"]
        assert f"'{APP}'" in state["integration_ews_fix"]


def test_an_allow_list_fix_keeps_the_apps_already_listed():
    state = ews_state({"EwsEnabled": True, "EwsAllowedAppIDs": ["0000aaaa-0000-0000-0000-000000000000"]}, APP, TODAY)

    assert f"-EwsAllowedAppIDs '0000aaaa-0000-0000-0000-000000000000', '{APP}'" in state["integration_ews_fix"]


def test_after_the_shutdown_nothing_works_and_the_fix_is_graph():
    state = ews_state({"EwsEnabled": True, "EwsAllowedAppIDs": [APP]}, APP, date(2027, 4, 1))

    assert state["integration_ews_now"] is False
    assert "Set-OrganizationConfig" not in state["integration_ews_fix"]


def test_step_1_reads_the_allow_list_from_exchange_for_the_integrations_app(sandbox_tenant, run_steps):
    app_id = sandbox_tenant.info["integration_app_id"]
    sandbox_tenant.control.invoke("Set-OrganizationConfig", EwsEnabled=True, EwsAllowedAppIDs=[app_id])
    tenant = connected_tenant(sandbox_tenant.info)

    assert run_steps(tenant, until="org_customization").finished

    result = state_of(tenant, "org_customization").result
    assert result["ews_allowed_app_ids"] == [app_id]
    assert result["integration_ews_now"] is True and app_id in result["integration_ews_summary"]

    sandbox_tenant.control.invoke("Set-OrganizationConfig", EwsAllowedAppIDs=["0000aaaa-0000-0000-0000-000000000000"])
    assert run_steps(tenant, start="org_customization", until="org_customization").finished
    assert state_of(tenant, "org_customization").result["integration_ews_now"] is False
