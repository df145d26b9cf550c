"""The whole journey in Chromium with a real worker and the sandbox tenant: an admin connects with Microsoft (signs
in as the tenant's Global Administrator and consents to Onramp's own app: not one pasted id or secret), walks steps
0-7 to "organisation activated", uploading a CSV on the rooms step, then hands Onramp's access back; support watches
the dashboard change in a second browser; the admin leaves half-way and resumes from a new session. Every step is
photographed at 1280 and 360 px."""

import pytest
from playwright.sync_api import Page, expect

from tenants.models import SecretKind, TenantSecret
from tenants.secrets import has_secret
from tests.e2e.conftest import BrowserSession, screenshot
from tests.factories import on_sandbox_cloud
from wizard.actions import create_tenant
from wizard.microsoft import DelegatedTokens, SignInAgainNeeded
from wizard.services import admin_sign_in

pytestmark = pytest.mark.e2e

STEP_TIMEOUT_MS = 90_000
ROOMS_CSV = (
    "\ufeffResourceAccounts\r\n"
    + "".join(f"room-{n:03}@contoso.onmicrosoft.com\r\n" for n in range(1, 13))
    + "room-001@contoso.onmicrosoft.com\r\n"  # a duplicate
    + "nobody@contoso.onmicrosoft.com\r\n"  # no such mailbox
    + "not-an-address\r\n"
).encode()


def wait_until_done(page: Page, step_title: str) -> None:
    """The progress partial polls until the step stops, then swaps in the whole step: the result or the error."""
    outcome = page.locator("#wizard .panel-ok, #wizard .panel-error, #wizard .preview")
    outcome.first.wait_for(timeout=STEP_TIMEOUT_MS)
    error = page.locator("#wizard .panel-error")
    assert error.count() == 0, f"{step_title} failed: {error.first.inner_text()}"
    expect(page.get_by_role("heading", name=step_title, exact=True, level=1)).to_be_visible()
    expect(page.locator("#progress")).to_have_count(0)


def run_step(page: Page, step_title: str, shot: str) -> None:
    expect(page.get_by_role("heading", name=step_title, exact=True, level=1)).to_be_visible()
    screenshot(page, f"{shot}-before")
    page.get_by_role("button", name="Run this step").click()
    wait_until_done(page, step_title)
    screenshot(page, f"{shot}-done")


def next_step(page: Page, title: str) -> None:
    page.get_by_role("link", name=f"Next: {title} →").click()
    expect(page.get_by_role("heading", name=title, exact=True, level=1)).to_be_visible()


def support_sees(support: BrowserSession, step_title: str, status: str) -> None:
    page = support.goto("/support/")
    row = page.get_by_role("row").filter(has_text="Contoso")
    expect(row).to_contain_text(step_title)
    expect(row).to_contain_text(status)


def test_admin_walks_every_step_while_support_watches(
    open_browser, make_user, make_sandbox, celery_worker, tmp_path, settings
):
    sandbox = make_sandbox(dehydrated=True, customization_delay_s=3, provisioning_delay_s=5)
    alice = make_user("alice")
    make_user("sam", is_staff=True)
    tenant = on_sandbox_cloud(create_tenant(creator=alice, display_name="Contoso", slug="contoso"), sandbox.info)
    # The installation's own multi-tenant app (the worker has the same two settings: tests/conftest.py).
    settings.ONRAMP_CONNECTOR_CLIENT_ID = sandbox.info["onramp_app_id"]
    settings.ONRAMP_CONNECTOR_CLIENT_SECRET = sandbox.info["onramp_app_secret"]

    support = open_browser()
    support.sign_in("sam")
    support_sees(support, "Connect the tenant", "Not started")
    screenshot(support.page, "support-dashboard-before")

    admin = open_browser()
    page = admin.sign_in("alice")
    page.get_by_role("link", name="Contoso").click()

    # Step 0: Connect with Microsoft. The admin signs in as the tenant's Global Administrator (the proof of which
    # Microsoft tenant is theirs), consents to Onramp's app in that tenant, and comes back; the step runs by itself.
    expect(page.get_by_role("heading", name="Connect the tenant")).to_be_visible()
    screenshot(page, "step0-connect-before")
    consent = page.locator(".consent")
    consent.get_by_label("Integration's application ID").fill(sandbox.info["integration_app_id"])
    consent.get_by_role("button", name="Connect with Microsoft").click()
    expect(page.get_by_role("heading", name="Sign in to your account")).to_be_visible()
    page.get_by_role("button", name="MOD Administrator", exact=True).click()
    expect(page.get_by_text("Admin consent granted")).to_be_visible()
    # Consent is all: Onramp acts with the Global Administrator's own rights, so its app needs no role of its own.
    wait_until_done(page, "Connect the tenant")
    tenant.refresh_from_db()
    assert (tenant.microsoft_tenant_id, tenant.binding_proof) == (sandbox.info["tenant_id"], "admin_sign_in")
    assert not has_secret(tenant, SecretKind.CLIENT_SECRET), "a secret was pasted or stored"
    expect(page.locator(".result")).to_contain_text("contoso.onmicrosoft.com")
    screenshot(page, "step0-connect-done")
    support_sees(support, "Organisation customisation", "Not started")

    # Step 1: the sandbox tenant is dehydrated, so Onramp enables customisation and waits for it.
    next_step(page, "Organisation customisation")
    page.get_by_role("button", name="Run this step").click()
    expect(page.locator("#progress")).to_be_visible()
    screenshot(page, "step1-org-customization-running")
    wait_until_done(page, "Organisation customisation")
    screenshot(page, "step1-org-customization-done")

    # Step 2: the service account, a wait for its mailbox, then its password shown once.
    next_step(page, "Service account")
    screenshot(page, "step2-service-account-before")
    page.get_by_role("button", name="Run this step").click()
    expect(page.locator("#progress .waiting")).to_be_visible(timeout=STEP_TIMEOUT_MS)
    expect(page.locator("#progress .waiting")).to_contain_text("so far")
    screenshot(page, "step2-service-account-waiting")
    support_sees(support, "Service account", "Waiting on Microsoft")
    support.page.locator("label[for=filter-waiting]").click()
    expect(support.page.locator("#tenant-table")).to_contain_text("Contoso")
    screenshot(support.page, "support-dashboard-waiting")
    wait_until_done(page, "Service account")
    page.get_by_role("button", name="Show the password once").click()
    secret = page.locator("#service-password")
    expect(secret).to_be_visible()
    assert len(secret.inner_text()) >= 16
    expect(page.get_by_role("link", name="Download")).to_be_visible()
    screenshot(page, "step2-service-account-done")
    page.reload()
    expect(page.locator("#service-password")).to_have_count(0)
    expect(page.get_by_text("is not shown again")).to_be_visible()

    # Step 3: the room list.
    next_step(page, "Room list")
    run_step(page, "Room list", "step3-room-list")

    # Step 4: rooms from a CSV, previewed row by row, applied only after Confirm.
    next_step(page, "Rooms")
    screenshot(page, "step4-rooms-before")
    page.get_by_label("A CSV file").check()
    csv_path = tmp_path / "rooms.csv"
    csv_path.write_bytes(ROOMS_CSV)
    page.get_by_label("Rooms CSV (column ResourceAccounts)").set_input_files(csv_path)
    page.get_by_role("button", name="Run this step").click()
    wait_until_done(page, "Rooms")
    preview = page.locator(".preview")
    expect(preview).to_contain_text("Duplicate")
    expect(preview).to_contain_text("Unknown mailbox")
    expect(preview).to_contain_text("Malformed address")
    expect(preview).to_contain_text("nobody@contoso.onmicrosoft.com")
    screenshot(page, "step4-rooms-preview")
    page.get_by_role("button", name="Confirm and add 12 rooms").click()
    wait_until_done(page, "Rooms")
    rooms = page.locator("#rooms-table")
    expect(rooms.locator("tbody tr")).to_have_count(12)
    page.get_by_role("link", name="Fail").click()
    expect(rooms.get_by_text("No rooms match this filter")).to_be_visible()
    page.get_by_role("link", name="Pass").click()
    expect(rooms.locator("tbody tr")).to_have_count(12)
    screenshot(page, "step4-rooms-done")

    # Half-way: the admin closes the browser and comes back in a new session.
    admin.context.close()
    admin = open_browser()
    page = admin.sign_in("alice")
    page.get_by_role("link", name="Contoso").click()
    expect(page.get_by_role("heading", name="Scoped access", exact=True)).to_be_visible()
    steps = page.get_by_role("navigation", name="Setup steps")
    for done in ("Connect the tenant", "Organisation customisation", "Service account", "Room list", "Rooms"):
        expect(steps.get_by_role("link", name=done)).to_contain_text("Done")
    screenshot(page, "resume-new-session")

    # Steps 5-7.
    run_step(page, "Scoped access", "step5-scoped-access")
    next_step(page, "Verify")
    run_step(page, "Verify", "step6-verify")
    expect(page.locator("#rooms-table tbody tr")).to_have_count(12)
    expect(page.locator("#rooms-table .chip").filter(has_text="Pass")).to_contain_text("12")
    expect(page.locator("#rooms-table .chip").filter(has_text="Fail")).to_contain_text("0")
    next_step(page, "Activate")
    run_step(page, "Activate", "step7-activate")

    page.get_by_role("link", name="Activation summary →").click()
    expect(page.get_by_role("heading", name="Activation summary")).to_be_visible()
    expect(page.locator(".summary")).to_contain_text("svc")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download JSON").click()
    assert download.value.suggested_filename == "onramp-contoso.json"
    screenshot(page, "activation")
    page.emulate_media(media="print")
    screenshot(page, "activation-print")
    page.emulate_media(media="screen")

    support_sees(support, "All done", "Active")
    tenant.refresh_from_db()
    assert tenant.status == "active", "the organisation was not activated"
    screenshot(support.page, "support-dashboard-after")
    support.page.get_by_role("link", name="Contoso").click()
    expect(support.page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(support.page.locator(".timeline")).to_contain_text("bind_microsoft_tenant")
    expect(support.page.locator("body")).not_to_contain_text(sandbox.info["onramp_app_secret"])
    screenshot(support.page, "support-tenant")

    # The admin hands Onramp's access back: no token is left in the database and no grant of Onramp's app in the
    # tenant (the sign-in Onramp kept can no longer get a token there).
    kept = admin_sign_in.kept_sign_in(tenant)
    admin.goto(f"/t/{tenant.slug}/steps/reduce_access/")
    expect(page.locator("#hand-back-plan")).to_contain_text("Onramp's delegated grant in your organisation")
    form = page.locator("form.run-form")
    form.get_by_label("Hand back Onramp's access: verify and re-verify will need access granted again").check()
    form.get_by_role("button", name="Run this step").click()
    page.locator("#wizard .panel-ok, #wizard .panel-error").first.wait_for(timeout=STEP_TIMEOUT_MS)
    expect(page.locator("#wizard .panel-error")).to_have_count(0)
    expect(page.locator(".result")).to_contain_text("Removed Onramp's delegated permission grant")
    screenshot(page, "reduce-access-done")
    assert not TenantSecret.objects.filter(tenant=tenant).exists(), "a token or sign-in was left in the database"
    with pytest.raises(SignInAgainNeeded) as refused:
        DelegatedTokens(admin_sign_in.connector_sign_in_app(tenant), kept).refresh()
    assert refused.value.code == "AADSTS65001", "Onramp's app still holds a grant in the tenant"
