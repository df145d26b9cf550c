"""The `onramp` management command end to end: the sandbox tenant, the real worker, the same steps as the browser."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tenants.models import SecretKind, Tenant
from tenants.secrets import read_secret
from tests.factories import activated_tenant, make_tenant, sandbox_connect_arguments, state_of
from wizard.models import AuditEvent, MembershipStatus, Room, StepStatus
from wizard.steps.exchange_online.connect.form import ENDPOINT_FIELDS


def onramp(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("onramp", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def info_file(sandbox_tenant, tmp_path):
    path = tmp_path / "sandbox.json"
    path.write_text(json.dumps(sandbox_tenant.info))
    return path


def test_connect_run_status_and_verify_on_the_demo_tenant(sandbox_tenant, info_file, celery_worker):
    call_command("setup_demo", stdout=io.StringIO())  # as `make run` does before connecting
    # `onramp connect … $(python -m sandbox onramp-connect --info FILE)`: the shell splits what the sandbox prints.
    printed = subprocess.run(
        [sys.executable, "-m", "sandbox", "onramp-connect", "--info", str(info_file)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    out, _ = onramp("connect", "--slug", "demo", *printed.split(), "--actor", "make-run")

    assert "Connected demo to Contoso" in out
    tenant = Tenant.objects.get(slug="demo")
    assert tenant.cloud == "custom" and tenant.microsoft_tenant_id == sandbox_tenant.info["tenant_id"]
    assert {key: tenant.custom_endpoints[key] for key in ENDPOINT_FIELDS} == {
        key: sandbox_tenant.info[key] for key in ENDPOINT_FIELDS
    }
    assert Path(tenant.custom_endpoints["ca_bundle"]).read_text() == Path(sandbox_tenant.info["ca_bundle"]).read_text()
    assert read_secret(tenant, SecretKind.CLIENT_SECRET) == sandbox_tenant.info["client_secret"]
    assert sandbox_tenant.info["client_secret"] not in printed  # passed in a file, never on the command line
    assert read_secret(tenant, SecretKind.INTEGRATION_CLIENT_SECRET) == sandbox_tenant.info["integration_client_secret"]
    assert AuditEvent.objects.filter(tenant=tenant, actor="make-run", action="save_app_credentials").exists()

    out, _ = onramp("run", "--slug", "demo", "--all-rooms", "--yes", "--wait")

    assert "[rooms] succeeded" in out and "[activate] succeeded" in out
    status = json.loads(onramp("status", "--slug", "demo", "--json")[0])
    assert [step["id"] for step in status["steps"]] == [
        "connect",
        "org_customization",
        "service_account",
        "room_list",
        "rooms",
        "scoped_access",
        "verify",
        "activate",
        "reduce_access",
    ]
    assert {step["status"] for step in status["steps"][:-1]} == {"succeeded"}
    assert status["steps"][-1]["status"] == "not_started"  # optional: run only with --reduce-access
    assert status["status"] == "active"
    everyone = json.loads(onramp("status", "--json")[0])
    assert [t["slug"] for t in everyone["tenants"]] == ["demo"]

    activate_before = state_of(tenant, "activate")
    activate_events = AuditEvent.objects.filter(tenant=tenant, step_id="activate").count()

    out, _ = onramp("verify", "--slug", "demo")

    assert "Rooms: 20 passed, 0 failed" in out and "out of scope" in out
    # Verify re-checks only: activation (and its webhook) is not run again.
    assert "[activate]" not in out
    activate_after = state_of(tenant, "activate")
    assert (activate_after.attempts, activate_after.finished_at) == (
        activate_before.attempts,
        activate_before.finished_at,
    )
    assert AuditEvent.objects.filter(tenant=tenant, step_id="activate").count() == activate_events


def test_run_without_yes_stops_at_the_rooms_preview(sandbox_tenant, info_file, celery_worker):
    onramp("connect", "--slug", "contoso", *sandbox_connect_arguments(info_file))

    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("onramp", "run", "--slug", "contoso", "--all-rooms", stdout=io.StringIO(), stderr=err)

    assert exit_info.value.code == 2
    assert "rooms needs input" in err.getvalue() and "Pass --yes to apply the preview" in err.getvalue()
    writes = sandbox_tenant.control.calls()["write_calls"]
    assert "Update-DistributionGroupMember" not in writes and "Add-DistributionGroupMember" not in writes
    tenant = Tenant.objects.get(slug="contoso")
    preview = state_of(tenant, "rooms").result["preview"]

    # --yes alone applies the preview that is there (it does not preview again and stop).
    out, _ = onramp("run", "--slug", "contoso", "--yes", "--wait", "--until", "rooms")

    rooms = state_of(tenant, "rooms")
    assert rooms.status == StepStatus.SUCCEEDED, out
    assert rooms.result["rooms_added"] == sum(row["status"] == "valid" for row in preview) > 0
    assert rooms.inputs["confirmed"] is True


@pytest.mark.django_db
def test_run_refuses_a_step_before_its_prerequisites():
    tenant = make_tenant("contoso")

    with pytest.raises(CommandError, match="“Rooms” builds on “Connect the tenant”.*--from connect"):
        onramp("run", "--slug", "contoso", "--from", "rooms")
    with pytest.raises(CommandError, match="“Verify” builds on “Connect the tenant”"):
        onramp("verify", "--slug", "contoso")

    assert {state.status for state in tenant.step_states.all()} == {StepStatus.NOT_STARTED}


@pytest.mark.django_db
def test_verify_step_refuses_to_re_verify_a_step_that_has_not_succeeded_or_has_no_check():
    tenant = make_tenant("contoso")

    with pytest.raises(CommandError, match="“Room list” cannot be re-verified: it is not started"):
        onramp("verify", "--slug", "contoso", "--step", "room_list")
    with pytest.raises(CommandError, match="“Rooms” has no check of its own"):
        onramp("verify", "--slug", "contoso", "--step", "rooms")

    assert {state.status for state in tenant.step_states.all()} == {StepStatus.NOT_STARTED}
    assert not AuditEvent.objects.filter(tenant=tenant, action="reverify").exists()


def test_connect_with_a_wrong_secret_exits_with_the_reason_and_fix(sandbox_tenant, tmp_path, celery_worker):
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps({**sandbox_tenant.info, "client_secret": "wrong"}))
    err = io.StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command(
            "onramp", "connect", "--slug", "contoso", *sandbox_connect_arguments(path), stdout=io.StringIO(), stderr=err
        )

    assert exit_info.value.code == 1
    assert "connect failed: AADSTS7000215" in err.getvalue()
    assert "Fix:" in err.getvalue() and "New client secret" in err.getvalue()


def test_connect_with_a_wrong_secret_keeps_the_working_one(sandbox_tenant, info_file, tmp_path, celery_worker):
    onramp("connect", "--slug", "contoso", *sandbox_connect_arguments(info_file))
    tenant = Tenant.objects.get(slug="contoso")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**sandbox_tenant.info, "client_secret": "mistyped"}))
    err = io.StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command(
            "onramp",
            "connect",
            "--slug",
            "contoso",
            *sandbox_connect_arguments(wrong),
            stdout=io.StringIO(),
            stderr=err,
        )

    assert exit_info.value.code == 1
    assert "connect failed: AADSTS7000215: Microsoft refused the new credentials: AADSTS7000215" in err.getvalue()
    assert "The credentials that worked before are kept" in err.getvalue()
    assert read_secret(tenant, SecretKind.CLIENT_SECRET) == sandbox_tenant.info["client_secret"]
    # Step 0 proved the new secret and failed with the refusal; run again, it uses the kept one.
    assert state_of(tenant, "connect").status == StepStatus.FAILED
    out, _ = onramp("connect", "--slug", "contoso", *sandbox_connect_arguments(info_file))
    assert "Connected contoso to Contoso" in out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("slug", "words"),
    [("bad slug/x", "valid “slug”"), ("x" * 51, "at most 50 characters")],
)
def test_connect_refuses_a_slug_no_page_could_link_to(slug, words, tmp_path):
    info = tmp_path / "sandbox.json"
    info.write_text("{}")

    with pytest.raises(CommandError) as refused:
        onramp("connect", "--slug", slug, *sandbox_connect_arguments(info))

    assert "--slug" in str(refused.value) and words in str(refused.value)
    assert not Tenant.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_bad_slug_saved_earlier_is_repaired_by_the_migration(django_user_model):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    Tenant.objects.create(slug="bad slug/x", display_name="Bad")
    Tenant.objects.create(slug="bad-slugx", display_name="Taken")
    executor = MigrationExecutor(connection)
    executor.migrate([("tenants", "0003_membership_notify")])
    executor.loader.build_graph()
    executor.migrate([("tenants", "0004_normalise_slugs")])
    # The migrations after it, back to the schema the models describe.
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert sorted(Tenant.objects.values_list("slug", flat=True)) == ["bad-slugx", "bad-slugx-2"]
    support = django_user_model.objects.create_user("sam", password="pw-sam-12345", is_staff=True)
    client = Client()
    client.force_login(support)
    assert client.get("/support/").status_code == 200


@pytest.mark.django_db
def test_an_interrupted_step_is_reported_in_words(django_user_model):
    from tests.factories import make_tenant, set_state
    from wizard.management.commands.onramp import Command

    tenant = make_tenant("contoso")
    state = set_state(tenant, "rooms", status="interrupted", auto_resumes=3)
    err = io.StringIO()

    Command(stdout=io.StringIO(), stderr=err)._print_failure(state)

    assert "rooms was interrupted" in err.getvalue() and "resumed it 3 time(s)" in err.getvalue()
    assert "failed: :" not in err.getvalue()


def test_drift_reports_new_rooms_and_run_new_rooms_places_them(sandbox_tenant, celery_worker):
    tenant = activated_tenant(sandbox_tenant.info)
    out, _ = onramp("drift", "--slug", "contoso")
    assert out.strip() == "contoso: no drift."
    new = sandbox_tenant.control.add_mailbox("room", alias="new-room")["userPrincipalName"].lower()

    with pytest.raises(SystemExit) as drifted:
        onramp("drift", "--slug", "contoso", "--json")

    assert drifted.value.code == 4
    out, _ = onramp("run", "--slug", "contoso", "--new-rooms", "--yes", "--wait")
    assert f"1 new room(s) in no list: {new}" in out
    assert "rooms, scoped_access, verify, activate: succeeded." in out
    assert Room.objects.get(tenant=tenant, address=new).membership_status == MembershipStatus.MEMBER
    assert state_of(tenant, "rooms").result["preview_summary"]["valid"] == 1
    out, _ = onramp("drift", "--slug", "contoso", "--json")
    document = json.loads(out)
    assert document["status"] == "done" and document["drifted"] is False and document["findings"] == []
    with pytest.raises(CommandError, match="No new room"):
        onramp("run", "--slug", "contoso", "--new-rooms", "--yes")


@pytest.mark.django_db
def test_drift_is_refused_before_activation():
    make_tenant("contoso")
    with pytest.raises(CommandError, match="contoso is not activated yet"):
        onramp("drift", "--slug", "contoso")


PASTED = (
    "--tenant-id",
    "t-1",
    "--client-id",
    "c-1",
    "--client-secret-env",
    "CLIENT_SECRET",
    "--integration-app-id",
    "a-1",
)
EXPLICIT = (
    "--authority",
    "https://l.example/t",
    "--graph-url",
    "https://g.example/v1.0",
    "--exchange-url",
    "https://x.example/adminapi/beta/t",
)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("more", "words"),
    [
        ([*EXPLICIT, "--ews-url", "http://x.example/EWS/Exchange.asmx"], "Use an https:// URL"),
        (list(EXPLICIT), "--ews-url: Needed with explicit endpoints."),
        ([*EXPLICIT, "--ews-url", "https://x.example/EWS/Exchange.asmx", "--cloud", "usgov_high"], "replace --cloud"),
        ([*EXPLICIT, "--ews-url", "https://x.example/EWS/Exchange.asmx", "--ca-bundle", "README.md"], "--ca-bundle"),
    ],
)
def test_connect_refuses_bad_explicit_endpoints_by_their_option_and_saves_no_credentials(more, words, monkeypatch):
    monkeypatch.setenv("CLIENT_SECRET", "s3cret")

    with pytest.raises(CommandError) as refused:
        onramp("connect", "--slug", "contoso", *PASTED, *more)

    assert words in str(refused.value)
    tenant = Tenant.objects.get(slug="contoso")
    assert tenant.cloud != "custom" and not tenant.client_id
    assert not AuditEvent.objects.filter(action="save_app_credentials").exists()


@pytest.mark.django_db
def test_a_secret_file_and_a_secret_variable_are_one_credential_too_many(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIENT_SECRET", "s3cret")
    secret = tmp_path / "client-secret"
    secret.write_text("s3cret\n")

    with pytest.raises(CommandError, match="not several"):
        onramp("connect", "--slug", "contoso", *PASTED, "--client-secret-file", str(secret))
