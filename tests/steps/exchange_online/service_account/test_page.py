"""The service account page says what the step will do: the licence picker does not claim free units beside an error
that found none, and before any attempt says that step 0 counted the licences."""

import html

from django.urls import reverse

from tests.factories import set_state
from tests.views.test_step_results import ONLINE_RESULTS
from tests.views.test_wizard_views import finish_before
from wizard.models import StepStatus

LICENCE = {"sku_id": "s1", "sku_part_number": "EXCHANGESTANDARD", "free_units": 5, "has_exchange": True}


def _page(client, tenant, step_id: str) -> str:
    return html.unescape(client.get(reverse("wizard:step", args=[tenant.slug, step_id])).content.decode())


def test_the_licence_picker_shows_the_count_the_error_beside_it_found(tenant, admin_client):
    finish_before(tenant, "service_account")
    set_state(tenant, "connect", result={**ONLINE_RESULTS["connect"], "licences": [LICENCE]})
    set_state(
        tenant,
        "service_account",
        status=StepStatus.FAILED,
        attempts=1,
        error_code="no_free_exchange_licence",
        error_message="No licence that gives a mailbox has a free unit. Considered: EXCHANGESTANDARD: 0 free.",
        error_detail={"explanation": "…", "fix": "…", "licences": [{**LICENCE, "free_units": 0}]},
    )

    page = _page(admin_client, tenant, "service_account")

    assert "EXCHANGESTANDARD: 0 free" in page
    assert "5 free" not in page
    assert "EXCHANGESTANDARD — 0 free at this step's last attempt" in page


def test_before_any_attempt_the_picker_says_step_0_counted_the_licences(tenant, admin_client):
    finish_before(tenant, "service_account")
    set_state(tenant, "connect", result={**ONLINE_RESULTS["connect"], "licences": [LICENCE]})

    page = _page(admin_client, tenant, "service_account")

    assert "EXCHANGESTANDARD — 5 free when step 0 read the licences" in page
    assert "reads them again when it runs" in page
