"""What a first walk through the wizard found (issue 15), seen in Chromium: steps offered in order, one status on
the page while a step runs, plain labels, and the support console's feedback, search and timeline export."""

import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.conftest import overflowing, screenshot
from tests.factories import sandbox_connect_arguments, set_state
from wizard.actions import create_tenant
from wizard.models import StepStatus

pytestmark = pytest.mark.e2e


def test_a_step_before_its_prerequisites_names_the_step_to_run_first(open_browser, make_user):
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    browser = open_browser()
    page = browser.sign_in("alice")

    browser.goto("/t/contoso/steps/room_list/")
    expect(page.get_by_role("heading", name="Room list", exact=True, level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Run this step")).to_have_count(0)
    expect(page.locator(".blocked")).to_contain_text("“Room list” builds on “Service account”, which has not finished")
    screenshot(page, "issue15-step-out-of-order")
    page.get_by_role("link", name="Go to “Service account” first →").click()
    expect(page.get_by_role("heading", name="Service account", exact=True, level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Run this step")).to_be_visible()


def test_while_a_step_runs_the_pill_the_steps_list_and_the_panel_agree(open_browser, make_user):
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    set_state(tenant, "org_customization", status=StepStatus.QUEUED, progress_message="Queued")
    browser = open_browser()
    page = browser.sign_in("alice")
    browser.goto("/t/contoso/steps/org_customization/")
    pill = page.locator(".step-head .pill")
    badge = page.locator("nav.steps li.current .badge")
    expect(pill).to_have_text("Queued")

    # The worker picks the step up; nothing reloads the page, only the progress panel polls.
    set_state(tenant, "org_customization", status=StepStatus.RUNNING, progress_percent=66, progress_message="Reading")

    expect(page.locator("#progress .progress-head strong")).to_have_text("Running")
    expect(page.locator("#progress")).to_contain_text("66%")
    expect(pill).to_have_text("Running")
    expect(badge).to_have_text("Running")
    expect(page.locator("nav.steps summary")).to_contain_text("Organisation customisation · Running")
    screenshot(page, "issue15-progress-one-status")


def test_the_webhook_field_says_url_in_capitals(open_browser, make_user):
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    for step_id in ("connect", "org_customization", "service_account", "room_list", "rooms", "scoped_access", "verify"):
        set_state(tenant, step_id, status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    browser = open_browser()
    page = browser.sign_in("alice")
    browser.goto("/t/contoso/steps/activate/")
    expect(page.get_by_label(re.compile(r"^Webhook URL"))).to_be_visible()
    expect(page.get_by_text("Webhook url", exact=True)).to_have_count(0)


def test_support_retries_and_watches_the_step_without_reloading(open_browser, make_user, no_worker):
    make_user("sam", is_staff=True)
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    set_state(tenant, "connect", status=StepStatus.FAILED, error_code="boom", error_message="Microsoft said no.")
    browser = open_browser()
    page = browser.sign_in("sam")
    browser.goto("/support/t/contoso/")
    row = page.locator("#state-connect")
    row.get_by_role("button", name="Retry Connect the tenant").click()

    expect(page.get_by_text("Retry of “Connect the tenant” queued.")).to_be_visible()
    expect(row.locator(".pill")).to_have_text("Queued")
    screenshot(page, "issue15-support-retry-queued")
    set_state(tenant, "connect", status=StepStatus.RUNNING, started_at=timezone.now())
    expect(row.locator(".pill")).to_have_text("Running", timeout=8_000)

    dashboard = browser.new_page()
    dashboard.goto(browser.base_url + "/support/")
    tenant_row = dashboard.get_by_role("row").filter(has_text="Contoso")
    expect(tenant_row).to_contain_text("Running")
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    expect(tenant_row).to_contain_text("Organisation customisation", timeout=8_000)
    expect(tenant_row).to_contain_text("Not started")
    expect(row.locator(".pill")).to_have_text("Done", timeout=8_000)
    expect(page.locator("#states[hx-trigger]")).to_have_count(0)
    screenshot(dashboard, "issue15-support-console")


def test_support_finds_a_tenant_by_part_of_its_tenant_id_or_a_domain(open_browser, make_user):
    make_user("sam", is_staff=True)
    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    create_tenant(creator=alice, display_name="Fabrikam", slug="fabrikam")
    tenant.microsoft_tenant_id = "9d3c4a1e-5b6f-4c2d-8e7a-0f1b2c3d4e5f"
    tenant.save()
    set_state(tenant, "connect", status=StepStatus.SUCCEEDED, result={"verified_domains": ["contoso-rooms.example"]})
    browser = open_browser()
    page = browser.sign_in("sam")
    browser.goto("/support/")
    table = page.locator("#tenant-table")
    for query in ("4c2d-8e7a", "contoso-rooms.example"):
        page.get_by_role("searchbox", name="Search tenants").fill(query)
        expect(table.get_by_text("Fabrikam")).to_have_count(0)
        expect(table.get_by_role("link", name="Contoso")).to_be_visible()


def test_the_timeline_downloads_from_the_console_and_the_organisations_summary(open_browser, make_user):
    make_user("sam", is_staff=True)
    alice = make_user("alice")
    create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    for user, path, link in (
        ("sam", "/support/t/contoso/", "Export timeline (CSV)"),
        ("alice", "/t/contoso/activation/", "Download the timeline (CSV)"),
    ):
        browser = open_browser()
        page = browser.sign_in(user)
        browser.goto(path)
        with page.expect_download() as download_info:
            page.get_by_role("link", name=link).click()
        download = download_info.value
        assert download.suggested_filename.startswith("onramp-contoso-timeline-")
        text = Path(download.path()).read_text(encoding="utf-8")
        assert text.splitlines()[0] == "when,who,what,step,step_id,outcome,detail"
        assert ",alice,create_tenant," in text


def test_consent_is_offered_only_when_configured_and_asks_for_the_integrations_app_id(
    open_browser, make_user, settings
):
    alice = make_user("alice")
    create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    settings.ONRAMP_CONNECTOR_CLIENT_ID = ""
    browser = open_browser()
    page = browser.sign_in("alice")
    browser.goto("/t/contoso/steps/connect/")
    expect(page.get_by_role("button", name="Connect with Microsoft")).to_have_count(0)
    expect(page.get_by_role("heading", name="Connect with an app registration of your own")).to_be_visible()

    settings.ONRAMP_CONNECTOR_CLIENT_ID = "00000000-0000-0000-0000-0000000c0a11"
    browser.goto("/t/contoso/steps/connect/")
    consent = page.locator(".consent")
    expect(consent.get_by_label("Integration's application ID")).to_be_visible()
    screenshot(page, "issue15-connect-consent")
    consent.get_by_role("button", name="Connect with Microsoft").click()
    expect(page.get_by_text("Enter the integration's application ID before consenting.")).to_be_visible()


def test_an_organisation_created_in_the_browser_connects_to_the_sandbox_on_explicit_endpoints(
    open_browser, make_user, sandbox_tenant, celery_worker
):
    info = sandbox_tenant.info
    make_user("alice")
    browser = open_browser()
    page = browser.sign_in("alice")
    page.get_by_role("link", name="Set up an organisation").first.click()
    page.get_by_label("Organisation name").fill("Sandbox Ltd")
    page.get_by_label("Short name (used in links)").fill("sandbox-ltd")
    page.get_by_role("button", name="Create and start").click()
    expect(page.get_by_role("heading", name="Connect the tenant", level=1)).to_be_visible()

    form = page.locator("form.run-form")
    form.get_by_label("Tenant ID").fill(info["tenant_id"])
    form.get_by_label("Application (client) ID").fill(info["client_id"])
    form.get_by_label("Client secret (its Value)").fill(info["client_secret"])
    form.get_by_label("Integration's application ID").fill(info["integration_app_id"])
    form.get_by_label("Cloud").select_option(label="Explicit endpoints")
    expect(form.locator("details.advanced")).to_have_attribute("open", "")
    form.get_by_label("Authority URL").fill(info["authority"])
    form.get_by_label("Microsoft Graph URL").fill(info["graph_url"])
    form.get_by_label("Exchange admin API URL").fill(info["exchange_admin_url"])
    form.get_by_label("EWS URL").fill(info["ews_url"])
    form.get_by_label("CA bundle (PEM)").set_input_files(info["ca_bundle"])
    screenshot(page, "issue15-connect-explicit-endpoints")
    form.get_by_role("button", name="Run this step").click()

    page.locator("#wizard .panel-ok, #wizard .panel-error").first.wait_for(timeout=90_000)
    expect(page.locator("#wizard .panel-error")).to_have_count(0)
    expect(page.locator(".result")).to_contain_text("Exchange admin access")


PHONE = {"width": 390, "height": 844}


def test_at_390_px_no_pill_or_chip_leaves_its_card(open_browser, make_user):
    from wizard.models import MembershipStatus, Room

    alice = make_user("alice")
    tenant = create_tenant(creator=alice, display_name="Contoso", slug="contoso")
    for step_id in ("connect", "org_customization", "service_account", "room_list"):
        set_state(tenant, step_id, status=StepStatus.SUCCEEDED, finished_at=timezone.now())
    statuses = ["valid", "not_a_resource_mailbox", "formula", "unknown_mailbox", "already_member", "malformed"]
    preview = [
        {
            "line": n + 2,
            "address": f"conference-room-{n:03}@contoso-international.onmicrosoft.com",
            "status": status,
            "reason": "Exchange knows no mailbox with this address." if status != "valid" else "",
        }
        for n, status in enumerate(statuses)
    ]
    summary = {status: 1 for status in statuses} | {"total": len(statuses)}
    set_state(
        tenant,
        "rooms",
        status=StepStatus.NEEDS_INPUT,
        inputs={"source": "csv", "csv": {}},
        result={"preview": preview, "preview_summary": summary, "source": "csv"},
        progress_message="Check the preview, then confirm.",
    )
    browser = open_browser()
    page = browser.sign_in("alice")
    page.set_viewport_size(PHONE)
    browser.goto("/t/contoso/steps/rooms/")
    expect(page.locator(".preview")).to_be_visible()
    assert overflowing(page) == []
    screenshot(page, "issue15-rooms-preview")

    set_state(
        tenant,
        "rooms",
        status=StepStatus.SUCCEEDED,
        finished_at=timezone.now(),
        result={
            "preview_summary": summary,
            "source": "csv",
            "rooms_added": 1,
            "rooms_already_members": 1,
            "lists": [
                {
                    "name": "Onramp Rooms International Headquarters 02",
                    "address": "x@contoso.com",
                    "members": 2,
                    "created": True,
                }
            ],
        },
    )
    Room.objects.create(
        tenant=tenant,
        address="conference-room-000@contoso-international.onmicrosoft.com",
        room_list="Onramp Rooms International Headquarters 02",
        membership_status=MembershipStatus.MEMBER,
    )
    browser.goto("/t/contoso/steps/rooms/")
    expect(page.locator(".result")).to_be_visible()
    page.set_viewport_size(PHONE)
    assert overflowing(page) == []
    screenshot(page, "issue15-rooms-results")


def test_rooms_preview_names_its_column_and_a_rejected_upload_clears_it(
    open_browser, make_user, sandbox_tenant, celery_worker, tmp_path
):
    import io
    import json

    from django.core.management import call_command

    make_user("alice")
    info = tmp_path / "sandbox.json"
    info.write_text(json.dumps(sandbox_tenant.info))
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    call_command(
        "onramp", "connect", "--slug", "contoso", *sandbox_connect_arguments(info), "--admin", "alice", **quiet
    )
    call_command("onramp", "run", "--slug", "contoso", "--until", "room_list", "--wait", **quiet)
    email_csv = tmp_path / "rooms.csv"
    email_csv.write_text(
        "Name,Email\nRoom 1,room-001@contoso.onmicrosoft.com\nRoom 2,room-002@contoso.onmicrosoft.com\n"
    )
    header_only = tmp_path / "header-only.csv"
    header_only.write_text("ResourceAccounts\n")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    browser = open_browser()
    page = browser.sign_in("alice")
    browser.goto("/t/contoso/steps/rooms/")
    page.get_by_label("A CSV file").check()
    page.get_by_label("Rooms CSV (column ResourceAccounts)").set_input_files(str(email_csv))
    page.get_by_role("button", name="Run this step").click()
    preview = page.locator(".preview")
    preview.wait_for(timeout=60_000)
    expect(preview).to_contain_text(
        "Read addresses from the column ‘Email’; the article's column is ‘ResourceAccounts’."
    )
    expect(page.get_by_role("button", name="Confirm and add 2 rooms")).to_be_visible()

    # The empty file: one error, not two.
    page.get_by_text("Choose other rooms instead").click()
    page.get_by_label("A CSV file").check()
    page.get_by_label("Rooms CSV (column ResourceAccounts)").set_input_files(str(empty))
    page.get_by_role("button", name="Preview again").click()
    expect(page.locator(".field .error")).to_have_count(1)
    expect(page.locator(".field .error")).to_have_text("The submitted file is empty.")
    # A rejected upload leaves no older preview to confirm.
    expect(page.locator(".preview")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Confirm and add"))).to_have_count(0)
    browser.goto("/t/contoso/steps/rooms/")
    expect(page.get_by_role("button", name=re.compile("Confirm and add"))).to_have_count(0)

    page.get_by_label("A CSV file").check()
    page.get_by_label("Rooms CSV (column ResourceAccounts)").set_input_files(str(header_only))
    page.get_by_role("button", name="Run this step").click()
    expect(page.locator(".field .error")).to_have_count(1)
    expect(page.get_by_role("button", name=re.compile("Confirm and add"))).to_have_count(0)
    screenshot(page, "issue15-rooms-rejected-upload")
    # A refused form answers 400 on purpose; the browser logs that, and it is not a script error.
    browser.errors[:] = [error for error in browser.errors if "status of 400" not in error]
