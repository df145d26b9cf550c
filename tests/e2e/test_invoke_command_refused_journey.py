"""Issue 26's "done when" in Chromium: with Microsoft refusing InvokeCommand to Onramp's app, a new Exchange Online
organisation reaches activation. Step 0 fails with the refusal (not a missing role), the page says what it means and
offers the switch; the admin switches to running the Exchange changes, and each Exchange step shows its Exchange
Online PowerShell, which the test runs twice in the sandbox's shell (the second run changes nothing) and confirms with
the page's button; Onramp's checks pass and verify reads the rooms' calendars as the integration."""

import re

import pytest
from playwright.sync_api import Page, expect

from tenants.models import TenantStatus
from tests.e2e.conftest import screenshot
from tests.factories import connected_tenant

pytestmark = pytest.mark.e2e

STEP_TIMEOUT_MS = 90_000
ROOMS = 12


def settled(page: Page, title: str, *, failed: bool = False) -> str:
    """The step's page once it has stopped: its status word (a failure only when `failed`)."""
    page.locator("#wizard .panel-ok, #wizard .panel-error, #wizard .panel-warn").first.wait_for(timeout=STEP_TIMEOUT_MS)
    expect(page.get_by_role("heading", name=title, exact=True, level=1)).to_be_visible()
    expect(page.locator("#progress")).to_have_count(0)
    error = page.locator("#wizard .panel-error")
    if not failed:
        assert error.count() == 0, f"{title} failed: {error.first.inner_text()}"
    return page.locator(".step-head .pill").inner_text()


def run_twice_in_the_shell(control, page: Page) -> None:
    script = page.locator(".powershell pre code").inner_text()
    assert "Connect-ExchangeOnline -Organization " in script
    first = control.run_script(script)
    assert first["errors"] == [], first["errors"]
    again = control.run_script(script)
    assert again["errors"] == [] and again["changes"] == 0, again


def confirm(page: Page, title: str, shot: str) -> None:
    expect(page.get_by_text("Run this in Exchange Online PowerShell, then confirm below.")).to_be_visible()
    screenshot(page, f"{shot}-script")
    page.get_by_role("button", name="I ran these commands").click()
    assert settled(page, title) == "Done", title
    expect(page.get_by_role("heading", name="What Onramp checked after your commands")).to_be_visible()


def next_step(page: Page, title: str) -> None:
    page.get_by_role("link", name=f"Next: {title} →").click()
    expect(page.get_by_role("heading", name=title, exact=True, level=1)).to_be_visible()


def test_organisation_activated_with_invoke_command_refused(open_browser, make_user, make_sandbox, celery_worker):
    sandbox = make_sandbox(rooms=ROOMS, dehydrated=True, rbac_delay_s=0)
    control = sandbox.control
    control.refuse_invoke_command()
    make_user("alice")  # with the browser's password, before the organisation names her its admin
    tenant = connected_tenant(sandbox.info, "contoso", admin="alice")
    page = open_browser().sign_in("alice")
    page.get_by_role("link", name="Contoso").click()

    # Step 0: the refusal, named as such, with what happens next and the switch.
    expect(page.get_by_role("heading", name="Connect the tenant", level=1)).to_be_visible()
    page.get_by_role("button", name="Run this step").click()
    settled(page, "Connect the tenant", failed=True)
    expect(page.locator("#wizard .panel-error")).to_contain_text("invoke_command_refused")
    expect(page.get_by_text("Retrying will not help while Microsoft refuses InvokeCommand.")).to_be_visible()
    screenshot(page, "plan-b-refused")
    page.get_by_role("button", name="Switch: the admin runs the Exchange changes").click()
    expect(page.get_by_text("You make the Exchange changes now")).to_be_visible()
    page.get_by_role("button", name="Retry").click()
    assert settled(page, "Connect the tenant") == "Done"

    next_step(page, "Organisation customisation")
    expect(page.get_by_role("heading", name="Who makes the Exchange changes")).to_be_visible()
    run_twice_in_the_shell(control, page)
    confirm(page, "Organisation customisation", "plan-b-org-customization")

    next_step(page, "Service account")
    page.get_by_role("button", name="Run this step").click()
    assert settled(page, "Service account") == "Done"

    next_step(page, "Room list")
    run_twice_in_the_shell(control, page)
    confirm(page, "Room list", "plan-b-room-list")

    next_step(page, "Rooms")
    page.get_by_label("A CSV file").check()
    rooms_csv = "ResourceAccounts\n" + "".join(f"room-{n:03d}@contoso.onmicrosoft.com\n" for n in range(1, ROOMS + 1))
    page.get_by_label("Rooms CSV (column ResourceAccounts)").set_input_files(
        {"name": "rooms.csv", "mimeType": "text/csv", "buffer": rooms_csv.encode()}
    )
    page.get_by_role("button", name=re.compile(r"^Save and (show|update) the commands$")).click()
    assert settled(page, "Rooms") == "Needs your input"
    run_twice_in_the_shell(control, page)
    confirm(page, "Rooms", "plan-b-rooms")

    # Scoped access: Onramp first finds the integration's app in Entra ID, for the commands.
    next_step(page, "Scoped access")
    page.get_by_role("button", name="Save and show the commands").click()
    assert settled(page, "Scoped access") == "Needs your input"
    run_twice_in_the_shell(control, page)
    confirm(page, "Scoped access", "plan-b-scoped-access")

    next_step(page, "Verify")
    page.get_by_role("button", name="Run this step").click()
    assert settled(page, "Verify") == "Done"
    next_step(page, "Activate")
    page.get_by_role("button", name="Run this step").click()
    assert settled(page, "Activate") == "Done"
    screenshot(page, "plan-b-activated")

    tenant.refresh_from_db()
    assert tenant.status == TenantStatus.ACTIVE
    assert [name for name in control.calls()["calls"] if " " not in name] == [], "InvokeCommand ran a cmdlet"
