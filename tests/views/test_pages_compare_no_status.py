"""Pages render, presenters decide (issue 24 point 5): no template compares a status string; what a status means
is a presenter's flag (wizard.presenters.StatusView), and what the person may do is decided before rendering."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from tenants.models import TenantStatus
from wizard.models import DriftCheckStatus, StepState, StepStatus
from wizard.presenters import StatusView

STATUS_WORDS = {value for choices in (StepStatus, TenantStatus, DriftCheckStatus) for value in choices.values}
COMPARISON = re.compile(r"""(==|!=|\bin\b)\s*["']([a-z_]+)["']""")
PER_STATUS_FLAGS = {status.value: status.value for status in StepStatus}


def _templates() -> list[Path]:
    return sorted(
        [*Path(settings.BASE_DIR, "templates").rglob("*.html"), *Path(settings.BASE_DIR, "wizard").rglob("*.html")]
    )


def test_no_template_compares_a_status_string():
    found = [
        f"{template.relative_to(settings.BASE_DIR)}:{number}: {match.group(0)}"
        for template in _templates()
        for number, line in enumerate(template.read_text().splitlines(), start=1)
        for match in COMPARISON.finditer(line)
        if match.group(2) in STATUS_WORDS
    ]
    assert found == []


@pytest.mark.parametrize("status", list(StepStatus))
def test_each_status_raises_its_own_flag_and_no_other(status: StepStatus):
    view = StatusView.of(StepState(step_id="rooms", status=status))
    raised = [value for value in PER_STATUS_FLAGS if getattr(view, value)]
    assert raised == [status.value]
    assert view.label == status.label
    assert view.shows_result == (status in (StepStatus.SUCCEEDED, StepStatus.WAITING))
    assert view.went_wrong == (status in (StepStatus.FAILED, StepStatus.INTERRUPTED))
