"""Microsoft's ids where support needs them (issue 28 point 3): a step that failed on a Microsoft call shows the
request-id, the client-request-id and the date on its page and in the support console, with one text to copy into a
Microsoft support case; a failure that was not a Microsoft call's offers no such text."""

import pytest
from django.urls import reverse

from tests.factories import set_state
from wizard.models import StepStatus

pytestmark = pytest.mark.django_db

IDS = {
    "request_id": "7f2d0c1e-1111-4a2b-9c3d-000000000001",
    "client_request_id": "5b9e3a77-2222-4c4d-8e5f-000000000002",
    "date": "Sat, 05 Dec 2026 21:49:20 GMT",
}


def _failed(tenant, detail):
    set_state(
        tenant,
        "connect",
        status=StepStatus.FAILED,
        error_code="permissions_missing",
        error_message="Onramp's app is missing the Exchange Administrator role.",
        error_detail={"explanation": "Microsoft refused.", "fix": "Assign the role.", **detail},
    )


def test_the_step_page_offers_the_ids_as_one_text_for_a_support_case(admin_client, tenant):
    _failed(tenant, IDS)

    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()

    assert "Copy for a Microsoft support case" in page
    case = page.split('id="support-case-connect">', 1)[1].split("</pre>", 1)[0]
    assert f"Microsoft request-id: {IDS['request_id']}" in case
    assert f"client-request-id: {IDS['client_request_id']}" in case
    assert f"Date: {IDS['date']}" in case
    assert "permissions_missing" in case


def test_the_support_console_shows_the_same_text(support_client, tenant):
    _failed(tenant, IDS)

    page = support_client.get(reverse("orgs:support_tenant", args=[tenant.slug])).content.decode()

    assert f"Microsoft request-id: {IDS['request_id']}" in page and "Copy for a Microsoft support case" in page


def test_a_failure_without_microsofts_ids_offers_no_support_case_text(admin_client, tenant):
    _failed(tenant, {})

    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()

    assert "This step failed" in page and "Copy for a Microsoft support case" not in page
