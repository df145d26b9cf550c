"""The "every room" preview of a 2,000-room tenant in Chromium: Confirm is on the first screen at 1280 and at
360 px, and the page is no longer thousands of pixels of rows (it was 8,377 px with Confirm only at the bottom)."""

import pytest

from tests.e2e.conftest import NARROW, WIDE, overflowing, screenshot
from tests.helpers import wait_for
from tests.steps.exchange_online.rooms.test_preview_layout import ROOMS, _all_rooms_preview
from wizard.actions import create_tenant

pytestmark = pytest.mark.e2e

# The first screen of a 1280 px window, and a page a person scrolls once or twice rather than for minutes.
LONGEST_PAGE_PX = 3000


def test_confirm_is_on_the_first_screen_and_the_rows_are_folded(open_browser, make_user):
    tenant = create_tenant(creator=make_user("alice"), display_name="Contoso", slug="contoso")
    path = _all_rooms_preview(
        tenant, [{"line": 0, "address": "ceo@contoso.com", "status": "not_a_resource_mailbox", "reason": "A person."}]
    )

    browser = open_browser()
    browser.sign_in("alice")
    page = browser.goto(path)
    confirm = page.get_by_role("button", name=f"Confirm and add {ROOMS:,} rooms")
    for size in (WIDE, NARROW):
        page.set_viewport_size(size)
        # Scrolled to the preview's heading (at 1280 px it is on the first screen), Confirm is in view with it.
        page.evaluate("document.getElementById('preview-title').scrollIntoView()")
        box = confirm.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"], (size, box)
        if size == WIDE:
            top = page.evaluate("document.getElementById('preview-title').getBoundingClientRect().top + scrollY")
            assert top + box["y"] + box["height"] <= size["height"], "at 1280 px Confirm is on the first screen"
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= LONGEST_PAGE_PX, (size, height)
    assert page.get_by_text("ceo@contoso.com").is_visible(), "a row that will not be added is shown"
    assert not page.get_by_text("room-0001@contoso.com").is_visible()
    page.get_by_text(f"The {ROOMS:,} rooms that will be in the room lists, row by row").click()
    assert page.get_by_text("room-0001@contoso.com").is_visible()
    # Two thousand rows opened at 360 px: on a loaded machine Chromium lays them out over several frames (two frames
    # were not always enough in CI), so the check looks again for a few seconds; an overflow that stays still fails.
    wait_for(lambda: overflowing(page) == [], 5, what="every opened row laid out inside its card (overflowing)")
    screenshot(page, "rooms-preview-every-room")
