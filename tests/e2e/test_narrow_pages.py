"""Every page an admin and a support person reach for a connected sandbox organisation fits a 360 px phone: no
sideways scroll and nothing leaving its card. Each page is screenshotted at 1280 and 360 px
(tests/artifacts/narrow-*)."""

import pytest
from django.core.management import call_command

from tenants.models import Cloud, Profile
from tests.e2e.conftest import NARROW, WIDE, overflowing, screenshot
from tests.factories import SANDBOX_ENDPOINT_KEYS, activated_tenant, connect_to_sandbox, run_inline
from wizard.actions import create_tenant
from wizard.models import StepStatus
from wizard.steps.registry import steps_for

pytestmark = pytest.mark.e2e


def test_every_page_fits_a_360_px_phone(open_browser, make_user, make_sandbox, celery_worker):
    sandbox = make_sandbox(rooms=12)
    alice = make_user("alice")
    make_user("sven")
    call_command("support_user", "sven", "--role", "support_viewer")
    activated_tenant(sandbox.info, "contoso", admin="alice")
    onprem = create_tenant(
        creator=alice, display_name="Contoso on premises", slug="onprem", profile=Profile.EXCHANGE_SERVER
    )
    # The server's URLs and CA, as the connect page's explicit endpoints would set them.
    onprem.cloud = Cloud.CUSTOM
    onprem.custom_endpoints = {key: sandbox.info[key] for key in SANDBOX_ENDPOINT_KEYS}
    onprem.save()
    # A second organisation on the same Microsoft tenant, its step 0 waiting for the share decision: its connect page
    # shows the explicit endpoints, the certificate fields and the shared-tenant tick box.
    shared = connect_to_sandbox(create_tenant(creator=alice, display_name="Fabrikam", slug="fabrikam"), sandbox.info)
    assert run_inline(shared, "connect").status == StepStatus.NEEDS_INPUT
    # An organisation whose step 0 failed on a wrong secret: the error panel with Microsoft's code and the fix.
    refused = connect_to_sandbox(
        create_tenant(creator=alice, display_name="Northwind", slug="northwind"),
        {**sandbox.info, "client_secret": "a-wrong-secret"},
    )
    assert run_inline(refused, "connect").status == StepStatus.FAILED

    admin_pages = [
        "/",
        "/tenants/new/",
        "/t/contoso/activation/",
        "/t/contoso/members/",
        f"/t/{shared.slug}/steps/connect/",
        f"/t/{refused.slug}/steps/connect/",
    ]
    admin_pages += [f"/t/contoso/steps/{step.id}/" for step in steps_for(Profile.EXCHANGE_ONLINE)]
    admin_pages += [f"/t/{onprem.slug}/steps/{step.id}/" for step in steps_for(Profile.EXCHANGE_SERVER)]
    support_pages = ["/support/", "/support/t/contoso/", f"/support/t/{shared.slug}/", f"/support/t/{onprem.slug}/"]

    problems = {}
    for person, paths in ((None, ["/login/"]), ("alice", admin_pages), ("sven", support_pages)):
        browser = open_browser()
        if person:
            browser.sign_in(person)
        for path in paths:
            page = browser.goto(path)
            page.wait_for_load_state("networkidle")
            page.set_viewport_size(NARROW)
            found = overflowing(page)
            if found:
                problems[path] = found
            page.set_viewport_size(WIDE)
            screenshot(page, "narrow-" + (path.strip("/").replace("/", "-") or "home"))
    assert problems == {}
