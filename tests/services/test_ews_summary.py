"""What step 1 tells the admin about EWS depends on where today falls in Microsoft's retirement timeline."""

from datetime import date

import pytest

from wizard.services.org_customization import default_ews_summary, ews_state


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
