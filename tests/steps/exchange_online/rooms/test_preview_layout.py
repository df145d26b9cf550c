"""The rooms preview of a large tenant ("every room mailbox", thousands of rows) reads summary first, with the
Confirm button right under it, above every table; the rows that will be added are folded, the ones that will not
are shown. Before, it was one 8,377 px page with Confirm only at the bottom."""

import re

from django.urls import reverse

from tests.factories import set_state
from tests.views.test_wizard_views import finish_before
from wizard.models import StepStatus
from wizard.steps.exchange_online.rooms.page import PREVIEW_ROWS_SHOWN

ROOMS = 2000


def _all_rooms_preview(tenant, problems: list[dict]) -> str:
    finish_before(tenant, "rooms")
    rows = [
        {"line": n, "address": f"room-{n:04}@contoso.com", "status": "valid", "reason": ""} for n in range(1, ROOMS + 1)
    ]
    planned = [
        {"name": f"Onramp Rooms {n:02}", "address": f"onramp-rooms-{n:02}@contoso.com", "members": 75, "adding": 75}
        for n in range(1, 28)
    ]
    set_state(
        tenant,
        "rooms",
        status=StepStatus.NEEDS_INPUT,
        inputs={"source": "all", "include_equipment": False, "confirmed": False},
        result={"source": "all", "preview": rows + problems, "planned_lists": planned},
    )
    return reverse("wizard:step", args=[tenant.slug, "rooms"])


def test_the_summary_and_confirm_come_before_every_row_and_the_rows_are_folded(tenant, admin_client):
    page = admin_client.get(_all_rooms_preview(tenant, [])).content.decode()
    preview = page[page.index('class="preview panel"') :]

    # Counts are grouped as the language writes them (2,000 in English).
    summary = preview.index(f"{ROOMS:,} rows read")
    confirm = preview.index(f"Confirm and add {ROOMS:,} rooms")
    assert summary < confirm < preview.index("<table")
    assert confirm < preview.index("room-0001@contoso.com")
    # The rooms to be added (capped as before) sit in a closed <details>; so do 27 planned lists.
    ready = re.search(r"<details class=\"preview-ready\">(.*?)</details>", preview, re.S)
    assert ready is not None and ready.group(1).count('<tr class="row-valid">') == PREVIEW_ROWS_SHOWN
    assert re.search(r"<details class=\"preview-lists\">", preview), "27 room lists are folded too"


def test_rows_that_will_not_be_added_are_shown_open_after_the_confirm(tenant, admin_client):
    problems = [{"line": 0, "address": "ceo@contoso.com", "status": "not_a_resource_mailbox", "reason": "A person."}]
    page = admin_client.get(_all_rooms_preview(tenant, problems)).content.decode()
    preview = page[page.index('class="preview panel"') :]

    assert "1 row will not be added (listed below)." in preview
    assert preview.index("Confirm and add") < preview.index("ceo@contoso.com") < preview.index("preview-ready")
