"""A finished step that has a check offers Re-verify, on its page and in the support console; one without a check
does not."""

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import set_state
from wizard.models import StepStatus

pytestmark = pytest.mark.django_db


def test_a_finished_step_with_a_check_offers_re_verify(tenant, admin_client, support_client):
    for step_id in ("connect", "rooms"):
        set_state(tenant, step_id, status=StepStatus.SUCCEEDED, finished_at=timezone.now(), attempts=1)
    reverify = reverse("wizard:action", args=[tenant.slug, "connect", "reverify"])

    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "connect"])).content.decode()
    assert f'action="{reverify}"' in page and ">Re-verify</button>" in page
    console = support_client.get(reverse("orgs:support_tenant", args=[tenant.slug])).content.decode()
    assert 'aria-label="Re-verify Connect the tenant"' in console

    # The rooms step has no check of its own to run again (the verify step checks the rooms).
    page = admin_client.get(reverse("wizard:step", args=[tenant.slug, "rooms"])).content.decode()
    assert ">Re-verify</button>" not in page
