"""The rooms step's page in Chromium against the sandbox: the preview counts what confirming writes and shows the
planned lists of at most 75, and on a phone (360 and 390 px) nothing in the preview or the results leaves its card.
Screenshots of the preview and the results at 1280 and 360 px go to tests/artifacts/."""

import io
import json

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from tests.e2e.conftest import NARROW, WIDE, overflowing, screenshot
from tests.factories import sandbox_connect_arguments

pytestmark = pytest.mark.e2e

STEP_TIMEOUT_MS = 90_000
PHONES = (NARROW, {"width": 390, "height": 844})
# On a phone a stacked table's cell is a grid of its label and one value: a cell whose value is cut, or made of
# several pieces (the second one would wrap under the label, as "75" and "of 75" did), is a broken card.
BROKEN_CELLS = """
() => [...document.querySelectorAll('#wizard table.stack td')].filter((td) =>
  td.scrollWidth > td.clientWidth + 1
  || !td.matches('.lead-cell')
    && [...td.childNodes].filter((node) => node.nodeType === 1 || node.textContent.trim()).length > 1
).map((td) => `cell: ${td.dataset.label} "${td.textContent.trim().slice(0, 40)}"`)
"""


def overflows_on_phones(page: Page) -> dict[int, list[str]]:
    found = {}
    for size in PHONES:
        page.set_viewport_size(size)
        found[size["width"]] = overflowing(page, "#wizard") + page.evaluate(BROKEN_CELLS)
    page.set_viewport_size(WIDE)
    return {width: problems for width, problems in found.items() if problems}


def test_the_rooms_preview_counts_what_it_writes_shows_the_planned_lists_and_fits_a_phone(
    open_browser, make_user, make_sandbox, celery_worker, tmp_path
):
    sandbox = make_sandbox(rooms=180)
    make_user("alice")
    info = tmp_path / "sandbox.json"
    info.write_text(json.dumps(sandbox.info))
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command(
        "onramp", "connect", "--slug", "contoso", *sandbox_connect_arguments(info), "--admin", "alice", **quiet
    )
    call_command("onramp", "run", "--slug", "contoso", "--until", "room_list", "--wait", **quiet)
    sandbox.control.invoke(
        "Add-DistributionGroupMember",
        Identity="onramp-rooms@contoso.com",
        Member="room-001@contoso.onmicrosoft.com",
        BypassSecurityGroupManagerCheck=True,
    )

    # Every room, and a row of each kind of problem: their statuses are the longest pills the preview shows.
    rooms_csv = tmp_path / "rooms.csv"
    rooms_csv.write_text(
        "ResourceAccounts\n"
        + "".join(f"room-{n:03}@contoso.onmicrosoft.com\n" for n in range(1, 181))
        + "user-001@contoso.onmicrosoft.com\n=HYPERLINK(1)\nnobody@contoso.onmicrosoft.com\nnot-an-address\n"
        + "room-002@contoso.onmicrosoft.com\n"
    )

    browser = open_browser()
    page = browser.sign_in("alice")
    browser.goto("/t/contoso/steps/rooms/")
    page.get_by_label("A CSV file").check()
    page.get_by_label("Rooms CSV (column ResourceAccounts)").set_input_files(str(rooms_csv))
    page.get_by_role("button", name="Run this step").click()
    preview = page.locator(".preview")
    preview.wait_for(timeout=STEP_TIMEOUT_MS)

    expect(preview).to_contain_text("185 rows read; 179 rooms will be added to the room lists, 1 is in one already")
    expect(preview.locator(".filters")).to_contain_text("Refused: looks like a spreadsheet formula: 1")
    confirm = page.get_by_role("button", name="Confirm and add 179 rooms")
    expect(confirm).to_be_visible()
    planned = preview.get_by_role("region", name="Room lists")
    expect(planned.locator("tbody tr")).to_have_count(3)
    for name, address, members in (
        ("Onramp Rooms", "onramp-rooms@contoso.com", "75"),
        ("Onramp Rooms 02", "onramp-rooms-02@contoso.com", "75"),
        ("Onramp Rooms 03", "onramp-rooms-03@contoso.com", "30"),
    ):
        row = planned.locator("tbody tr").filter(has_text=address)
        expect(row).to_contain_text(name)
        expect(row).to_contain_text(f"{members} of 75")
    assert overflows_on_phones(page) == {}
    screenshot(page, "rooms-plan-preview")

    confirm.click()
    page.locator("#wizard .result, #wizard .panel-error").first.wait_for(timeout=STEP_TIMEOUT_MS)
    expect(page.locator("#wizard .panel-error")).to_have_count(0)
    expect(page.locator(".result")).to_contain_text("179 added to a room list")
    assert overflows_on_phones(page) == {}
    screenshot(page, "rooms-plan-results")
