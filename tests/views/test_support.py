"""The support console: staff only, filters, search, pagination, CSV export, a fixed number of queries, no secret."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tenants.models import SecretKind
from tenants.secrets import store_secret
from tests.factories import set_state
from wizard.actions import create_tenant
from wizard.models import StepState, StepStatus
from wizard.presenters import spreadsheet_safe as neutralise

pytestmark = pytest.mark.django_db


def make_tenants(count: int, prefix: str = "org") -> list:
    creator = get_user_model().objects.create_user(f"{prefix}-creator")
    return [
        create_tenant(creator=creator, display_name=f"{prefix} {n:03}", slug=f"{prefix}-{n:03}") for n in range(count)
    ]


def test_console_is_a_404_to_tenant_admins(tenant, admin_client):
    for url in (
        reverse("orgs:support"),
        reverse("orgs:support_export"),
        reverse("orgs:support_tenant", args=[tenant.slug]),
    ):
        assert admin_client.get(url).status_code == 404, url


def test_console_needs_sign_in(client):
    response = client.get(reverse("orgs:support"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_support_home_is_the_console(support_client):
    assert support_client.get(reverse("orgs:home"))["Location"] == reverse("orgs:support")


def test_dashboard_lists_every_tenant_with_step_status_and_activity(tenant, other_tenant, support_client):
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED)
    set_state(tenant, "org_customization", status=StepStatus.FAILED)
    page = support_client.get(reverse("orgs:support")).content.decode()
    assert "Contoso" in page and "Fabrikam" in page
    assert "Organisation customisation" in page
    assert "Failed" in page
    assert "Exchange Online (Microsoft 365)" in page


@pytest.mark.parametrize(
    ("filter_name", "fields", "expected"),
    [
        ("failed", {"status": StepStatus.FAILED}, True),
        ("waiting", {"status": StepStatus.WAITING, "waiting_since": timezone.now()}, True),
        ("active", {"status": StepStatus.RUNNING, "started_at": timezone.now()}, True),
        ("stuck", {"status": StepStatus.RUNNING, "started_at": timezone.now() - timedelta(hours=2)}, True),
        ("stuck", {"status": StepStatus.RUNNING, "started_at": timezone.now() - timedelta(minutes=5)}, False),
        ("stuck", {"status": StepStatus.WAITING, "waiting_since": timezone.now() - timedelta(hours=3)}, True),
        ("failed", {"status": StepStatus.SUCCEEDED}, False),
    ],
)
def test_filters(tenant, other_tenant, support_client, filter_name, fields, expected):
    set_state(tenant, "service_account", **fields)
    page = support_client.get(reverse("orgs:support"), {"filter": filter_name}).content.decode()
    assert ("Contoso" in page) is expected
    assert "Fabrikam" not in page


def test_search_by_name_slug_or_microsoft_tenant_id(tenant, other_tenant, support_client):
    tenant.microsoft_tenant_id = "11111111-2222-3333-4444-555555555555"
    tenant.save()
    for query in ("conto", "CONTOSO", "11111111-2222-3333-4444-555555555555"):
        page = support_client.get(reverse("orgs:support"), {"q": query}).content.decode()
        assert "Contoso" in page and "Fabrikam" not in page, query


def test_search_and_filters_swap_only_the_table_for_htmx(tenant, support_client):
    response = support_client.get(
        reverse("orgs:support"), {"q": "conto"}, headers={"HX-Request": "true", "HX-Target": "tenant-table"}
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="tenant-table"')
    assert "Contoso" in page


def test_pagination(support_client):
    make_tenants(55)
    first = support_client.get(reverse("orgs:support")).content.decode()
    assert "org 049" in first and "org 050" not in first
    assert "Page 1 of 2" in first
    second = support_client.get(reverse("orgs:support"), {"page": 2}).content.decode()
    assert "org 050" in second and "org 054" in second


def test_dashboard_query_count_does_not_grow_with_tenants(support_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert support_client.get(reverse("orgs:support")).status_code == 200
        return len(captured)

    make_tenants(3, "small")
    few = queries()
    make_tenants(40, "large")
    for tenant in make_tenants(5, "failing"):
        set_state(tenant, "rooms", status=StepStatus.FAILED)
    assert queries() == few


def test_export_csv_neutralises_formulas(support_client, support_user):
    create_tenant(creator=support_user, display_name='=HYPERLINK("http://x")', slug="formula")
    create_tenant(creator=support_user, display_name="Plain", slug="plain")
    response = support_client.get(reverse("orgs:support_export"))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["slug", "name", "profile"]
    names = {row[1] for row in rows[1:]}
    assert names == {'\'=HYPERLINK("http://x")', "Plain"}


def test_export_follows_the_filter(tenant, other_tenant, support_client):
    set_state(other_tenant, "connect", status=StepStatus.FAILED)
    response = support_client.get(reverse("orgs:support_export"), {"filter": "failed"})
    body = b"".join(response.streaming_content).decode()
    assert "fabrikam" in body and "contoso" not in body


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1"])
def test_neutralise(value):
    assert neutralise(value) == "'" + value


def test_tenant_page_has_timeline_states_and_actions_but_no_secret(tenant, support_client):
    store_secret(tenant, SecretKind.CLIENT_SECRET, "very-secret-value")
    store_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD, "another-secret")
    set_state(
        tenant,
        "room_list",
        status=StepStatus.FAILED,
        error_code="ErrorAccessDenied",
        error_message="Access is denied.",
        error_detail={"request_id": "req-9"},
    )
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED, result={"client_secret": "very-secret-value"})
    set_state(tenant, "service_account", status=StepStatus.SUCCEEDED)
    page = support_client.get(reverse("orgs:support_tenant", args=[tenant.slug])).content.decode()
    assert "create_tenant" in page and "alice" in page
    assert "ErrorAccessDenied" in page and "req-9" in page
    assert reverse("wizard:action", args=[tenant.slug, "room_list", "retry"]) in page
    assert "very-secret-value" not in page and "another-secret" not in page


def test_unknown_tenant_is_a_404(support_client):
    assert support_client.get(reverse("orgs:support_tenant", args=["nope"])).status_code == 404


def test_labels_say_url_and_ews_in_capitals_and_steps_by_their_title(tenant, support_client):
    from wizard.audit import record_event

    set_state(tenant, "connect", status=StepStatus.SUCCEEDED)
    record_event(tenant, "alice", "run", "succeeded", "org_customization", {"ews_url": "https://mail.contoso.com"})
    record_event(tenant, "alice", "run", "queued", "activate", {"webhook_url": "https://hooks.example"})
    page = support_client.get(reverse("orgs:support_tenant", args=[tenant.slug])).content.decode()
    assert "EWS URL: https://mail.contoso.com" in page and "Webhook URL: https://hooks.example" in page
    assert "Ews url" not in page and "Webhook url" not in page
    assert "at “Organisation customisation”" in page and "“org_customization”" not in page
    assert "run · Organisation customisation" in page and "· org_customization<" not in page


def test_retry_from_the_console_says_it_is_queued_and_the_table_polls_until_nothing_runs(
    tenant, support_client, pending_sends
):
    set_state(tenant, "connect", status=StepStatus.FAILED, error_code="boom", error_message="Boom.")
    back = reverse("orgs:support_tenant", args=[tenant.slug])
    response = support_client.post(
        reverse("wizard:action", args=[tenant.slug, "connect", "retry"]), {"next": back}, follow=True
    )
    page = response.content.decode()
    assert "Retry of “Connect the tenant” queued." in page
    assert 'id="states"' in page and 'hx-trigger="every 2s"' in page
    partial = support_client.get(back, headers={"HX-Request": "true", "HX-Target": "states"}).content.decode()
    assert 'id="states"' in partial and "<html" not in partial
    assert "Queued" in partial and 'hx-trigger="every 2s"' in partial
    dashboard = support_client.get(reverse("orgs:support")).content.decode()
    assert 'id="tenant-table"' in dashboard and 'hx-trigger="every 2s"' in dashboard

    set_state(tenant, "connect", status=StepStatus.SUCCEEDED)
    partial = support_client.get(back, headers={"HX-Request": "true", "HX-Target": "states"}).content.decode()
    assert "every 2s" not in partial
    assert "every 2s" not in support_client.get(reverse("orgs:support")).content.decode()


def test_search_by_any_part_of_the_microsoft_tenant_id_and_by_domain(tenant, other_tenant, support_client):
    tenant.microsoft_tenant_id = "11111111-2222-3333-4444-555555555555"
    tenant.save()
    set_state(
        tenant,
        "connect",
        status=StepStatus.SUCCEEDED,
        result={"verified_domains": ["contoso.com", "rooms.contoso-hq.net"], "default_domain": "contoso.com"},
    )
    set_state(
        other_tenant, "connect", status=StepStatus.SUCCEEDED, result={"service_account_upn": "svc@fabrikam.local"}
    )
    for query, found, hidden in (
        ("3333-4444", "Contoso", "Fabrikam"),
        ("5555555555", "Contoso", "Fabrikam"),
        ("contoso-hq.net", "Contoso", "Fabrikam"),
        ("fabrikam.local", "Fabrikam", "Contoso"),
    ):
        page = support_client.get(reverse("orgs:support"), {"q": query}).content.decode()
        assert found in page and hidden not in page, query


def test_timeline_export_csv_and_json_from_the_console_and_the_organisations_page(
    tenant, other_tenant, support_client, admin_client, other_client
):
    from wizard.audit import record_event

    record_event(tenant, '=HYPERLINK("http://evil")', "run", "failed", "room_list", {"message": "-1+2", "token": "t"})
    csv_url = reverse("orgs:timeline_csv", args=[tenant.slug])
    json_url = reverse("orgs:timeline_json", args=[tenant.slug])
    assert csv_url in support_client.get(reverse("orgs:support_tenant", args=[tenant.slug])).content.decode()
    assert csv_url in admin_client.get(reverse("wizard:activation", args=[tenant.slug])).content.decode()
    assert json_url in admin_client.get(reverse("wizard:activation", args=[tenant.slug])).content.decode()

    for client in (support_client, admin_client):
        response = client.get(csv_url)
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[0] == ["when", "who", "what", "step", "step_id", "outcome", "detail"]
        assert [row[1:6] for row in rows[1:]] == [
            ["alice", "create_tenant", "", "", "succeeded"],
            ['\'=HYPERLINK("http://evil")', "run", "Room list", "room_list", "failed"],
        ]
        assert "token" not in rows[2][6] and "-1+2" in rows[2][6]
        document = json.loads(b"".join(client.get(json_url).streaming_content))
        assert document["organisation"] == "contoso"
        assert [event["what"] for event in document["events"]] == ["create_tenant", "run"]
        assert document["events"][1]["step"] == "Room list" and "token" not in document["events"][1]["detail"]
    assert other_client.get(csv_url).status_code == 404


def test_support_cannot_change_a_steps_inputs_through_the_run_route(tenant, support_client, pending_sends):
    """Support may retry and re-verify with the admin's inputs; choosing the rooms or the control mailbox is the
    admin's. A post of a step's form is refused and nothing is queued or saved."""
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED)
    set_state(tenant, "verify", status=StepStatus.FAILED, inputs={"control_mailbox": "ceo@contoso.com"})
    for step_id in ("org_customization", "service_account", "room_list", "rooms", "scoped_access"):
        set_state(tenant, step_id, status=StepStatus.SUCCEEDED)

    response = support_client.post(
        reverse("wizard:run", args=[tenant.slug, "verify"]), {"control_mailbox": "room-001@contoso.com"}
    )

    assert response.status_code == 404
    state = StepState.objects.get(tenant=tenant, step_id="verify")
    assert state.status == StepStatus.FAILED and state.inputs == {"control_mailbox": "ceo@contoso.com"}
    assert pending_sends() == 0
    retried = support_client.post(reverse("wizard:action", args=[tenant.slug, "verify", "retry"]))
    assert retried.status_code == 302 and pending_sends() == 1
    assert StepState.objects.get(tenant=tenant, step_id="verify").inputs == {"control_mailbox": "ceo@contoso.com"}
