"""An Exchange Server organisation walked from its first step to "organisation activated" in Chromium, on the real
worker, with the sandbox as the server. The admin's Exchange Management Shell is the sandbox's control shell: every
manual step's script is taken from the page as shown, run there twice (the second run must change nothing and
report no error), and confirmed with the page's button; one confirmation comes from a stale page and is refused."""

import re
from urllib.parse import urljoin

import pytest
from playwright.sync_api import Page, expect

from tenants.models import Cloud, Profile, TenantStatus
from tests.e2e.conftest import screenshot
from wizard.actions import create_tenant

pytestmark = pytest.mark.e2e

STEP_TIMEOUT_MS = 90_000
ROOMS = 12
SERVICE_ACCOUNT = "svc-rooms@contoso.onmicrosoft.com"
SERVICE_PASSWORD = "Sandbox-Svc-Passw0rd!"
ENDPOINTS = ("authority", "graph_url", "exchange_admin_url", "ews_url", "ca_bundle")


def settled(page: Page, title: str) -> str:
    """The step's page once it has stopped (the progress panel swaps the step in): its status word."""
    page.locator("#wizard .panel-ok, #wizard .panel-error, #wizard .panel-warn").first.wait_for(timeout=STEP_TIMEOUT_MS)
    expect(page.get_by_role("heading", name=title, exact=True, level=1)).to_be_visible()
    expect(page.locator("#progress")).to_have_count(0)
    error = page.locator("#wizard .panel-error")
    assert error.count() == 0, f"{title} failed: {error.first.inner_text()}"
    return page.locator(".step-head .pill").inner_text()


def shown_script(page: Page) -> str:
    return page.locator(".powershell pre code").inner_text()


def downloads(page: Page) -> dict[str, str]:
    """The room lists' CSV files the page offers (the script's Import-Csv lines read them by name)."""
    files = {}
    for link in page.locator(".downloads a").all():
        response = page.request.get(urljoin(page.url, link.get_attribute("href")))
        name = re.search(r'filename="([^"]+)"', response.headers["content-disposition"]).group(1)
        files[name] = response.text()
    return files


def run_twice_in_the_shell(control, page: Page, typed: list[str] | None = None) -> dict:
    script, files = shown_script(page), downloads(page)
    first = control.run_script(script, files, typed)
    assert first["errors"] == [], first["errors"]
    before = control.state()
    again = control.run_script(script, files, typed)
    assert again["errors"] == [] and again["changes"] == 0, again
    assert control.state() == before
    return first


def confirm(page: Page, title: str, shot: str) -> None:
    screenshot(page, f"{shot}-script")
    page.get_by_role("button", name="I ran these commands").click()
    assert settled(page, title) == "Done", title


def save_values(page: Page, title: str) -> None:
    # "show" while the step has no commands to run yet (they need these values), "update" once it has.
    page.get_by_role("button", name=re.compile(r"^Save and (show|update) the commands$")).click()
    assert settled(page, title) == "Needs your input"


def test_exchange_server_organisation_activated_in_the_browser(open_browser, make_user, make_sandbox, celery_worker):
    sandbox = make_sandbox(rooms=ROOMS, rbac_delay_s=0)
    control, info = sandbox.control, sandbox.info
    alice = make_user("alice")
    tenant = create_tenant(
        creator=alice, display_name="Contoso on premises", slug="onprem", profile=Profile.EXCHANGE_SERVER
    )
    # The server's URLs and CA, as the connect page's explicit endpoints would set them.
    tenant.cloud = Cloud.CUSTOM
    tenant.custom_endpoints = {key: info[key] for key in ENDPOINTS}
    tenant.save()
    browser = open_browser()
    page = browser.sign_in("alice")
    page.get_by_role("link", name="Contoso on premises").click()

    # Service account: New-Mailbox with the password typed at PowerShell's prompt, never into Onramp.
    expect(page.get_by_role("heading", name="Service account", level=1)).to_be_visible()
    page.get_by_label("Service account (user principal name)").fill(SERVICE_ACCOUNT)
    save_values(page, "Service account")
    ran = run_twice_in_the_shell(control, page, [SERVICE_PASSWORD])
    assert ran["changes"] == 1 and SERVICE_PASSWORD not in shown_script(page)
    confirm(page, "Service account", "onprem-service-account")

    # Connect: EWS with the service account's password over HTTPS, the sandbox's CA from the organisation's settings.
    page.get_by_role("link", name="Next: Connect to Exchange Server →").click()
    page.get_by_label("Service account (user principal name)").fill(SERVICE_ACCOUNT)
    page.get_by_label("Service account password").fill(SERVICE_PASSWORD)
    page.get_by_label("EWS URL").fill(info["ews_url"])
    page.get_by_role("button", name="Run this step").click()
    assert settled(page, "Connect to Exchange Server") == "Done"

    # Room list, confirmed first from a stale page: the values changed in another tab after it was loaded.
    page.get_by_role("link", name="Next: Room list →").click()
    save_values(page, "Room list")
    other_tab = browser.new_page()
    other_tab.goto(page.url)
    other_tab.get_by_label("Name").fill("Meeting Rooms")
    save_values(other_tab, "Room list")
    page.get_by_role("button", name="I ran these commands").click()
    expect(page.get_by_text("These commands are not the current ones")).to_be_visible()
    assert "Meeting Rooms" in shown_script(page), "the refusal shows the current script"
    run_twice_in_the_shell(control, page)
    confirm(page, "Room list", "onprem-room-list")

    # Rooms: the CSV uploaded; the script adds each room once, reading the per-list files the page offers.
    page.get_by_role("link", name="Next: Rooms →").click()
    rooms_csv = "ResourceAccounts\n" + "".join(f"room-{n:03d}@contoso.onmicrosoft.com\n" for n in range(1, ROOMS + 1))
    page.get_by_label("Rooms CSV (column ResourceAccounts)").set_input_files(
        {"name": "rooms.csv", "mimeType": "text/csv", "buffer": rooms_csv.encode()}
    )
    save_values(page, "Rooms")
    run_twice_in_the_shell(control, page)
    confirm(page, "Rooms", "onprem-rooms")

    # Scoped impersonation: the script first prints the lists' DNs, which the admin pastes; then the scope and the
    # role assignment, each made only when missing.
    page.get_by_role("link", name="Next: Scoped impersonation →").click()
    printed = control.run_script(shown_script(page), {}, None)
    dns = [row["DistinguishedName"] for row in printed["output"] if "DistinguishedName" in row]
    assert dns, printed
    page.get_by_label("Distinguished names of the room lists").fill("\n".join(dns))
    save_values(page, "Scoped impersonation")
    run_twice_in_the_shell(control, page)
    confirm(page, "Scoped impersonation", "onprem-scoped-access")

    # Verify over EWS as each room, then activate.
    page.get_by_role("link", name="Next: Verify →").click()
    page.get_by_label("Control mailbox").fill("user-001@contoso.onmicrosoft.com")
    page.get_by_role("button", name="Run this step").click()
    assert settled(page, "Verify") == "Done"
    page.get_by_role("link", name="Next: Activate →").click()
    page.get_by_role("button", name="Run this step").click()
    assert settled(page, "Activate") == "Done"
    screenshot(page, "onprem-activated")

    tenant.refresh_from_db()
    assert tenant.status == TenantStatus.ACTIVE
