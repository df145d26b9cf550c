"""Step 1's EWS panel agrees with itself: when the integration's app is blocked from EWS, no row beside the
verdict says every application may use it, and the setting that decides (EwsAllowedAppIDs) is on the page."""

from datetime import date

import pytest

from tests.views.test_step_results import page_of
from wizard.steps.exchange_online.org_customization.service import ews_state

APP = "1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
OTHER_APP = "0000aaaa-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    "config",
    [
        {"EwsEnabled": None, "EwsApplicationAccessPolicy": None, "EwsAllowedAppIDs": []},
        {"EwsEnabled": True, "EwsApplicationAccessPolicy": None, "EwsAllowedAppIDs": [OTHER_APP]},
        {"EwsEnabled": False, "EwsApplicationAccessPolicy": None, "EwsAllowedAppIDs": []},
    ],
    ids=["default-after-october-2026", "allow-list-without-the-app", "switched-off"],
)
def test_a_blocked_app_is_never_shown_beside_every_application_may_use_ews(tenant, admin_client, config):
    result = {**ews_state(config, APP, date(2026, 12, 4)), "is_dehydrated": False}
    assert result["integration_ews_now"] is False
    page = page_of(admin_client, tenant, "org_customization", result)
    assert "is blocked now" in page and "Blocked now" in page
    assert "every application may use EWS" not in page
    assert "EwsAllowedAppIDs" in page
    for app_id in config["EwsAllowedAppIDs"]:
        assert app_id in page


def test_an_allowed_app_reads_works_now_with_the_allow_list(tenant, admin_client):
    config = {"EwsEnabled": True, "EwsApplicationAccessPolicy": None, "EwsAllowedAppIDs": [APP]}
    result = {**ews_state(config, APP, date(2026, 12, 4)), "is_dehydrated": False}
    page = page_of(admin_client, tenant, "org_customization", result)
    assert "Works now" in page and "Blocked now" not in page
    assert APP in page
