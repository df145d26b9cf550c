"""The support console's steps table on a 360 px phone: each step is a card, so Retry is on screen without a
sideways scroll, and a status pill wraps between words ("Not started"), never inside one ("Not start ed")."""

import pytest
from django.utils import timezone

from tests.e2e.conftest import NARROW, screenshot
from tests.factories import set_state
from wizard.actions import create_tenant
from wizard.models import StepStatus

pytestmark = pytest.mark.e2e

# Pills whose words are split over two lines: a word of a pill whose text spans more than one line box.
PILLS_BROKEN_INSIDE_A_WORD = """
() => {
  const broken = [];
  for (const pill of document.querySelectorAll('main .pill')) {
    const text = pill.firstChild;
    if (!text || text.nodeType !== Node.TEXT_NODE) continue;
    let start = 0;
    for (const word of text.textContent.split(' ')) {
      const range = document.createRange();
      range.setStart(text, start);
      range.setEnd(text, start + word.length);
      const tops = new Set([...range.getClientRects()].map((rect) => Math.round(rect.top)));
      if (tops.size > 1) broken.push(`${pill.textContent.trim()}: ${word}`);
      start += word.length + 1;
    }
  }
  return broken;
}
"""


def test_the_steps_table_fits_a_phone_with_retry_on_screen(open_browser, make_user):
    alice = make_user("alice")
    make_user("sam", is_staff=True)
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    set_state(
        tenant,
        "connect",
        status=StepStatus.FAILED,
        attempts=2,
        finished_at=timezone.now(),
        error_code="AADSTS7000215",
        error_message="Invalid client secret provided.",
        error_detail={"request_id": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"},
    )

    browser = open_browser()
    browser.sign_in("sam")
    page = browser.goto("/support/t/contoso/")
    page.set_viewport_size(NARROW)

    scrolls = page.evaluate(
        "() => [...document.querySelectorAll('#states .table-wrap')].some((el) => el.scrollWidth > el.clientWidth)"
    )
    assert not scrolls, "the steps table scrolls sideways"
    retry = page.get_by_role("button", name="Retry Connect the tenant")
    box = retry.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= NARROW["width"], box
    assert page.get_by_text("Not started").first.is_visible()
    assert page.evaluate(PILLS_BROKEN_INSIDE_A_WORD) == []
    screenshot(page, "support-steps-narrow")
