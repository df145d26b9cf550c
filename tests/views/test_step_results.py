"""Each step's result as an IT admin reads it: plain words, dates instead of Unix timestamps, no raw result keys.
The results below have the shape the services in wizard/services/ write."""

import re
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from tenants.models import Profile
from wizard.actions import create_tenant
from wizard.models import StepState, StepStatus

CREATED_AT = 1795619850.46  # 25 Nov 2026, 13:17:30 UTC
DN = "CN=Onramp Rooms,OU=contoso.onmicrosoft.com,OU=Microsoft Exchange Hosted Organizations,DC=EURP1,DC=PROD"

ONLINE_RESULTS = {
    "connect": {
        "organization_name": "Contoso Ltd",
        "microsoft_tenant_id": "8f1c2d3e-0000-4000-8000-000000000001",
        "country": "GB",
        "verified_domains": ["contoso.onmicrosoft.com", "contoso.com"],
        "default_domain": "contoso.com",
        "licences": [
            {"sku_id": "s1", "sku_part_number": "EXCHANGESTANDARD", "free_units": 3, "has_exchange": True},
            {"sku_id": "s2", "sku_part_number": "POWER_BI_STANDARD", "free_units": 9, "has_exchange": False},
        ],
        "exchange_organization": "contoso.onmicrosoft.com",
        "connection_verified": True,
    },
    "org_customization": {
        "ews_enabled": None,
        "ews_application_access_policy": None,
        "ews_allow_list": [],
        "ews_summary": "EWS follows Microsoft's default: allowed until 1 October 2026, blocked from then on.",
        "ews_note": "Exchange Online … switches it off for good on 1 April 2027.",
        "is_dehydrated": False,
        "customization_requested_at": None,
    },
    "service_account": {
        "user_id": "u-1",
        "user_principal_name": "onramp-svc@contoso.com",
        "display_name": "Room booking service",
        "usage_location": "GB",
        "created": True,
        "created_at": CREATED_AT,
        "sku_id": "s1",
        "sku_part_number": "EXCHANGESTANDARD",
        "mailbox_ready": True,
        "mailbox_wait_started": None,
    },
    "room_list": {
        "name": "Onramp Rooms",
        "alias": "onramp-rooms",
        "address": "onramp-rooms@contoso.com",
        "dn": DN,
        "guid": "g-1",
        "manager": "onramp-svc@contoso.com",
        "adopted": False,
    },
    "rooms": {
        "preview": [{"line": 1, "address": "room-001@contoso.com", "status": "valid", "reason": ""}],
        "preview_summary": {
            "valid": 12,
            "malformed": 1,
            "duplicate": 1,
            "formula": 0,
            "unknown_mailbox": 1,
            "not_a_resource_mailbox": 0,
            "already_member": 0,
            "total": 15,
        },
        "lists": [
            {"name": "Onramp Rooms", "address": "onramp-rooms@contoso.com", "dn": DN, "members": 75, "created": False},
            {
                "name": "Onramp Rooms 02",
                "address": "onramp-rooms-02@contoso.com",
                "dn": "CN=2",
                "members": 12,
                "created": True,
            },
        ],
        "rooms_added": 87,
        "rooms_already_members": 0,
        "write_calls": 2,
        "source": "csv",
        "rooms_selected": 87,
    },
    "scoped_access": {
        "app_id": "a1b2c3d4-0000-4000-8000-00000000beef",
        "service_principal_object_id": "sp-1",
        "exchange_service_principal": "Room booking app",
        "scope_name": "Onramp rooms of Onramp Rooms",
        "filter": f"MemberOfGroup -eq '{DN}'",
        "room_list_dns": [DN],
        "role": "Application Calendars.ReadWrite",
        "role_assignment": "Application Calendars.ReadWrite-a1b2",
        "tenant_wide_calendar_roles": [],
        "scope_verified": True,
    },
    "verify": {
        "rooms_checked": 12,
        "rooms_passed": 12,
        "rooms_failed": 0,
        "failures": [],
        "control_mailbox": "onramp-svc@contoso.com",
        "control_out_of_scope": True,
        "calendar_checked": True,
        "drift": {"unlisted_rooms": ["room-099@contoso.com"], "gone_rooms": []},
    },
    "activate": {
        "summary": {"tenant_id": "t-1"},
        "password_erased": True,
        "webhook": {
            "status": "delivered",
            "url": "https://booking.example/hooks/onramp",
            "delivery_id": "d-1",
            "attempts": 2,
            "last_error": "",
            "last_attempt_at": CREATED_AT,
        },
    },
}

# What the admin reads on each step's page.
ONLINE_WORDS = {
    "connect": [
        "Contoso Ltd",
        "8f1c2d3e-0000-4000-8000-000000000001",
        "contoso.com",
        "Works",
        "EXCHANGESTANDARD: 3 free",
    ],
    "org_customization": [
        "Enabled",
        "IsDehydrated",
        "What the EWS shutdown means for you",
        "Microsoft Graph",
        "1 April 2027",
    ],
    "service_account": ["onramp-svc@contoso.com", "Created by Onramp on 25 Nov 2026", "EXCHANGESTANDARD", "Ready"],
    "room_list": ["Onramp Rooms", "onramp-rooms@contoso.com", DN, "Manager"],
    "rooms": ["87</strong> added", "not added: duplicate", "not added: unknown mailbox", "Onramp Rooms 02", "of 75"],
    "scoped_access": ["Onramp rooms of Onramp Rooms", "MemberOfGroup -eq", "Application Calendars.ReadWrite", "None"],
    "verify": ["12</strong> rooms pass", "Out of reach", "room-099@contoso.com", "Rooms gone from the tenant"],
    "activate": ["Open the activation summary", "Delivered", "on attempt 2", "https://booking.example/hooks/onramp"],
}

SERVER_RESULTS = {
    "connect": {
        "ews_url": "https://mail.contoso.com/EWS/Exchange.asmx",
        "ews_url_source": "autodiscover",
        "service_account_upn": "svc-rooms@contoso.com",
        "auth": "basic",
    },
    "room_list": {
        "name": "Onramp Rooms",
        "alias": "onramp-rooms",
        "address": "onramp-rooms@contoso.com",
        "manager": "svc-rooms@contoso.com",
        "script_sha256": "ab" * 32,
        "confirmed_by": "alice",
        "confirmed_at": "2026-11-25T13:17:30.460000+00:00",
    },
    "rooms": {
        "room_lists": [
            {
                "number": 1,
                "name": "Onramp Rooms",
                "alias": "onramp-rooms",
                "address": "onramp-rooms@contoso.com",
                "members": ["room-001@contoso.com", "room-002@contoso.com"],
            },
        ],
        "rooms": 2,
        "confirmed_by": "alice",
        "confirmed_at": "2026-11-25T13:17:30.460000+00:00",
        "script_sha256": "cd" * 32,
    },
    "scoped_access": {
        "scope_name": "Onramp Rooms scope",
        "room_list_dns": [DN],
        "confirmed_by": "alice",
        "confirmed_at": "2026-11-25T13:17:30.460000+00:00",
        "script_sha256": "ef" * 32,
    },
    "verify": {
        "rooms_passed": 2,
        "rooms_failed": 0,
        "control_mailbox": "svc-rooms@contoso.com",
        "control_code": "ErrorImpersonateUserDenied",
        "control_reason": "",
        "passed": True,
    },
    "activate": {"summary": {"ews_url": "https://mail.contoso.com/EWS/Exchange.asmx"}, "password_erased": True},
}

SERVER_WORDS = {
    "connect": ["svc-rooms@contoso.com", "found by Autodiscover", "https://mail.contoso.com/EWS/Exchange.asmx"],
    "room_list": ["onramp-rooms@contoso.com", "alice confirmed running them on 25 Nov 2026"],
    "rooms": ["2 rooms in 1 room list", "Onramp Rooms", "alice confirmed"],
    "scoped_access": ["Onramp Rooms scope", DN, "ApplicationImpersonation"],
    "verify": ["2</strong> rooms pass", "Refused", "ErrorImpersonateUserDenied"],
    "activate": ["Open the activation summary", "erased the service account's password"],
}

# What the old catch-all showed: a result key, or a Unix timestamp.
RAW = re.compile(r"\b(?:[a-z]+_[a-z_]+): |\b1795619850\b")


def page_of(client, tenant, step_id: str, result: dict) -> str:
    StepState.objects.filter(tenant=tenant, step_id=step_id).update(
        status=StepStatus.SUCCEEDED, result=result, finished_at=timezone.now(), attempts=1
    )
    response = client.get(reverse("wizard:step", args=[tenant.slug, step_id]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("step_id", ONLINE_RESULTS)
def test_exchange_online_results_read_as_plain_words(tenant, admin_client, step_id):
    page = page_of(admin_client, tenant, step_id, ONLINE_RESULTS[step_id])
    for words in ONLINE_WORDS[step_id]:
        assert words in page, (step_id, words)
    assert not RAW.search(page), RAW.search(page).group()
    assert "What Onramp found and did" not in page, "the catch-all list is for steps without their own template"


@pytest.mark.parametrize("step_id", SERVER_RESULTS)
def test_exchange_server_results_read_as_plain_words(admin_user, admin_client, step_id):
    tenant = create_tenant(creator=admin_user, display_name="Onprem", slug="onprem", profile=Profile.EXCHANGE_SERVER)
    page = page_of(admin_client, tenant, step_id, SERVER_RESULTS[step_id])
    for words in SERVER_WORDS[step_id]:
        assert words in page, (step_id, words)
    assert not RAW.search(page), RAW.search(page).group()
    assert "Connect with Microsoft" not in page


def test_failed_verify_still_shows_the_counts_and_drift(tenant, admin_client):
    found = {**ONLINE_RESULTS["verify"], "rooms_passed": 11, "rooms_failed": 1, "control_out_of_scope": False}
    StepState.objects.filter(tenant=tenant, step_id="verify").update(
        status=StepStatus.FAILED,
        error_code="verification_failed",
        error_message="Verification failed.",
        error_detail={"explanation": "…", "fix": "…", "request_id": "", "result": found},
        finished_at=timezone.now(),
    )
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "verify"])).content.decode()
    assert "11</strong> rooms pass" in page and "Within reach" in page and "room-099@contoso.com" in page


def test_a_step_finished_a_moment_ago_says_just_now(tenant, admin_client):
    page = page_of(admin_client, tenant, "room_list", ONLINE_RESULTS["room_list"])
    assert "Done</strong> just now" in page
    assert "0 minutes" not in page


def test_waiting_for_the_mailbox_says_how_long_in_words(tenant, admin_client):
    StepState.objects.filter(tenant=tenant, step_id="service_account").update(
        status=StepStatus.WAITING,
        waiting_for="the mailbox of onramp-svc@contoso.com",
        waiting_since=timezone.now(),
        result={**ONLINE_RESULTS["service_account"], "mailbox_ready": False, "mailbox_wait_started": time.time() - 300},
    )
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "service_account"])).content.decode()
    assert "for less than a minute so far" in page
    assert "has been creating it for 5" in page


def test_the_steps_list_has_a_one_line_summary_for_phones(tenant, admin_client):
    page = page_of(admin_client, tenant, "rooms", ONLINE_RESULTS["rooms"])
    assert '<summary>Step 4 of 8 · Rooms · <span id="nav-summary-status">Done</span></summary>' in page


def test_the_catch_all_shows_dates_not_timestamps():
    from wizard.presenters import display_items

    items = dict(display_items({"created_at": CREATED_AT, "nested": {"last_attempt_at": CREATED_AT}}))
    assert items["Created at"].startswith("25 Nov 2026")
    assert "1795619850" not in items["Nested"]


def test_labels_keep_initialisms_in_capitals():
    from wizard.presenters import label

    assert [label(key) for key in ("ews_url", "webhook_url", "tenant_id", "room_list_dns", "organization")] == [
        "EWS URL",
        "Webhook URL",
        "Tenant ID",
        "Room list DNs",
        "Organization",
    ]
