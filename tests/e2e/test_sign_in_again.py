"""Tokens that last the whole setup, in Chromium with a real worker (issue 23's done-when): an administrator connects
with Microsoft; a refresh token revoked in the middle of the rooms step makes the step wait for "Sign in again to
continue", and after signing in again it finishes with no write made twice (the sandbox's call log)."""

import threading

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.e2e.test_walk import STEP_TIMEOUT_MS, next_step, run_step, wait_until_done
from tests.factories import on_sandbox_cloud
from tests.helpers import wait_for
from wizard.actions import create_tenant

pytestmark = pytest.mark.e2e

ROOMS = 1500  # twenty lists of 75: twice what the rooms step writes at once, so most start after others end
LISTS = ROOMS // 75


def test_a_refresh_token_revoked_during_the_rooms_step_waits_for_sign_in_again_and_writes_nothing_twice(
    open_browser, make_user, make_sandbox, celery_worker, settings
):
    sandbox = make_sandbox(rooms=ROOMS)
    info = sandbox.info
    tenant = on_sandbox_cloud(create_tenant(creator=make_user("alice"), display_name="Contoso", slug="contoso"), info)
    settings.ONRAMP_CONNECTOR_CLIENT_ID = info["onramp_app_id"]  # the worker's too (tests/conftest.py)
    settings.ONRAMP_CONNECTOR_CLIENT_SECRET = info["onramp_app_secret"]

    page = open_browser().sign_in("alice")
    page.get_by_role("link", name="Contoso").click()
    consent = page.locator(".consent")
    consent.get_by_label("Integration's application ID").fill(info["integration_app_id"])
    consent.get_by_role("button", name="Connect with Microsoft").click()
    page.get_by_role("button", name="MOD Administrator", exact=True).click()
    expect(page.get_by_text("Admin consent granted")).to_be_visible()
    wait_until_done(page, "Connect the tenant")
    for title in ("Organisation customisation", "Service account", "Room list"):
        next_step(page, title)
        run_step(page, title, f"sign-in-again-{title.lower().replace(' ', '-')}")

    next_step(page, "Rooms")
    page.get_by_label("Every room mailbox of the organisation").check()
    page.get_by_role("button", name="Run this step").click()
    wait_until_done(page, "Rooms")
    sandbox.control.set_knobs(latency_ms=100)
    sandbox.control.reset_calls()

    def revoke_at_the_first_write() -> None:
        wait_for(
            lambda: sandbox.control.calls()["writes"], timeout=60, interval=0.01, what="the rooms step's first write"
        )
        sandbox.control.revoke_refresh_tokens()  # as revokeSignInSessions or a password reset does

    watcher = threading.Thread(target=revoke_at_the_first_write)
    watcher.start()
    page.get_by_role("button", name=f"Confirm and add {ROOMS:,} rooms").click()
    again = page.get_by_role("button", name="Sign in again to continue")
    again.wait_for(timeout=STEP_TIMEOUT_MS)
    watcher.join()
    expect(page.locator("#wizard")).to_contain_text("Microsoft asks the administrator to sign in again")
    screenshot(page, "rooms-sign-in-again")
    first_run = sandbox.control.calls()["write_calls"]
    written = first_run.get("New-DistributionGroup", 0) + first_run.get("Update-DistributionGroupMember", 0)
    assert 0 < written < LISTS, f"the revocation did not stop the run in the middle: {first_run}"

    sandbox.control.set_knobs(latency_ms=0)
    again.click()  # Microsoft signs the same administrator in again from the login hint
    expect(page.get_by_text("Signed in again")).to_be_visible()
    wait_until_done(page, "Rooms")
    screenshot(page, "rooms-done-after-sign-in-again")

    both_runs = sandbox.control.calls()["write_calls"]
    # Each list written once across both runs: the first one made by the room list step, the others created here.
    assert both_runs.get("New-DistributionGroup", 0) == LISTS - 1, both_runs
    assert both_runs.get("Update-DistributionGroupMember", 0) == 1, both_runs
    assert both_runs.get("Add-DistributionGroupMember", 0) == 0, both_runs
    assert tenant.rooms.filter(membership_status="member").count() == ROOMS
