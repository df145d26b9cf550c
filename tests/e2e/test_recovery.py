"""Recovering from trouble in Chromium, on the real worker and the sandbox tenant: a failed step's error panel
(Microsoft's code, the explanation, the fix) and its Retry; an interrupted step's Resume; and the steps list,
which a phone shows folded to one line, opened with the keyboard. Photographed at 1280 and 360 px."""

import pytest
from playwright.sync_api import Page, expect

from tenants.models import SecretKind
from tenants.secrets import store_secret
from tests.e2e.conftest import NARROW, WIDE, screenshot
from tests.factories import connect_to_sandbox
from wizard.actions import create_tenant
from wizard.models import StepState, StepStatus

pytestmark = pytest.mark.e2e

STEP_TIMEOUT_MS = 60_000


def wait_for_outcome(page: Page) -> None:
    """The progress panel polls until the step stops; then the whole step is swapped in and polling ends."""
    page.locator("#wizard .panel-ok, #wizard .panel-error").first.wait_for(timeout=STEP_TIMEOUT_MS)
    expect(page.locator("#progress")).to_have_count(0)


def test_wrong_client_secret_shows_the_reason_and_the_fix_and_retry_recovers(
    open_browser, make_user, make_sandbox, celery_worker
):
    sandbox = make_sandbox()
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    # The installation's app with a secret Microsoft does not accept (mistyped, or expired).
    connect_to_sandbox(tenant, {**sandbox.info, "client_secret": "not-the-secret"}, actor="setup")

    page = open_browser().sign_in("alice")
    page.get_by_role("link", name="Contoso").click()
    page.get_by_role("button", name="Run this step").click()
    wait_for_outcome(page)

    panel = page.get_by_role("alert").filter(has_text="This step failed")
    expect(panel).to_contain_text("AADSTS7000215")
    expect(panel).to_contain_text("client secret is wrong or expired")
    expect(panel).to_contain_text("Certificates & secrets > New client secret")
    expect(panel.get_by_text("Attempts")).to_be_visible()
    steps = page.get_by_role("navigation", name="Setup steps")
    expect(steps.get_by_role("link", name="Connect the tenant")).to_contain_text("Failed")
    screenshot(page, "error-connect-wrong-secret")

    # The admin makes a new secret in Entra and Onramp stores it (as the form or `onramp connect` does); Retry
    # runs the step again with it, from the keyboard.
    store_secret(tenant, SecretKind.CLIENT_SECRET, sandbox.info["client_secret"])
    retry = panel.get_by_role("button", name="Retry")
    retry.focus()
    page.keyboard.press("Enter")
    wait_for_outcome(page)
    expect(page.locator("#wizard .panel-error")).to_have_count(0)
    expect(page.locator(".panel-ok")).to_contain_text("after 2 attempts")
    expect(page.locator(".result")).to_contain_text("contoso.onmicrosoft.com")
    expect(steps.get_by_role("link", name="Connect the tenant")).to_contain_text("Done")
    screenshot(page, "error-connect-retried")


def test_interrupted_step_resumes_on_the_worker(open_browser, make_user, make_sandbox, celery_worker):
    sandbox = make_sandbox()
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    connect_to_sandbox(tenant, sandbox.info, actor="setup")
    # What the watchdog leaves behind when the worker running the step dies (wizard.engine.mark_interrupted_steps).
    StepState.objects.filter(tenant=tenant, step_id="connect").update(
        status=StepStatus.INTERRUPTED, attempts=1, progress_message="The worker stopped while this step ran."
    )

    page = open_browser().sign_in("alice")
    page.get_by_role("link", name="Contoso").click()
    panel = page.get_by_role("alert").filter(has_text="Interrupted")
    expect(panel).to_contain_text("Nothing is lost")
    screenshot(page, "interrupted-before-resume")

    panel.get_by_role("button", name="Resume").click()
    wait_for_outcome(page)
    expect(page.locator("#wizard .panel-error")).to_have_count(0)
    expect(page.locator(".result")).to_contain_text("Works")
    assert StepState.objects.get(tenant=tenant, step_id="connect").status == StepStatus.SUCCEEDED
    screenshot(page, "interrupted-resumed")


def test_phone_shows_the_step_first_and_the_steps_list_opens_from_the_keyboard(open_browser, make_user):
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    StepState.objects.filter(tenant=tenant, step_id="connect").update(status=StepStatus.SUCCEEDED)

    browser = open_browser()
    browser.sign_in("alice")
    page = browser.page
    page.set_viewport_size(NARROW)
    page.goto(f"{browser.base_url}/t/contoso/steps/org_customization/")
    steps = page.get_by_role("navigation", name="Setup steps")
    summary = steps.locator("summary")
    expect(summary).to_have_text("Step 1 of 8 · Organisation customisation · Not started")
    expect(steps.get_by_role("link", name="Connect the tenant")).to_be_hidden()
    heading = page.get_by_role("heading", name="Organisation customisation", level=1)
    assert heading.bounding_box()["y"] < NARROW["height"] / 2, "the step starts on the first screen"
    screenshot(page, "narrow-steps-folded")

    # Keyboard only: the skip link, then the summary line, which Enter opens.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    summary.focus()
    page.keyboard.press("Enter")
    expect(steps.get_by_role("link", name="Connect the tenant")).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(steps.get_by_role("link", name="Connect the tenant")).to_be_focused()

    # Wide again, the list stands open beside the step with no summary line.
    page.set_viewport_size(WIDE)
    expect(summary).to_be_hidden()
    expect(steps.get_by_role("link", name="Activate")).to_be_visible()
