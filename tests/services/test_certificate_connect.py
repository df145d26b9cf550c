"""Issue 11.4: the connector app signs in with a certificate (a client assertion signed by its private key) as well
as with a secret; the key is stored encrypted, and a certificate the app does not hold is refused at step 0."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from sandbox.tls import app_certificate
from tenants.models import SecretKind, Tenant, TenantSecret
from tenants.secrets import has_secret, read_secret
from tests.factories import (
    connect_to_sandbox,
    connected_tenant,
    make_tenant,
    run_inline,
    sandbox_connect_arguments,
    state_of,
)
from wizard.models import StepStatus
from wizard.steps.exchange_online.connect import service as connect


def test_a_certificate_connects_and_replaces_the_stored_secret(sandbox_tenant, run_steps):
    info = sandbox_tenant.info
    pem = Path(info["client_certificate_file"]).read_text()
    tenant = connected_tenant(info)  # with the secret first: the certificate takes its place
    credential = connect.certificate_credential(pem)  # the thumbprint is read from the certificate in the file

    connect_to_sandbox(tenant, info, actor="test", client_certificate=credential)
    assert has_secret(tenant, SecretKind.CLIENT_SECRET), "replaced before step 0 proved the certificate"

    assert run_steps(tenant, until="connect").finished
    assert not has_secret(tenant, SecretKind.CLIENT_SECRET)
    stored = json.loads(read_secret(tenant, SecretKind.CLIENT_CERTIFICATE))
    assert stored["thumbprint"] == info["certificate_thumbprint"]
    ciphertext = bytes(TenantSecret.objects.get(tenant=tenant, kind=SecretKind.CLIENT_CERTIFICATE).ciphertext)
    assert b"PRIVATE KEY" not in ciphertext  # encrypted at rest
    event = tenant.audit_events.filter(action="save_app_credentials").latest("id")
    assert event.detail["certificate_thumbprint"] == info["certificate_thumbprint"]
    assert "PRIVATE KEY" not in json.dumps(event.detail)
    assert state_of(tenant, "connect").result["organization_name"] == "Contoso"


def test_a_certificate_the_app_does_not_hold_fails_connect_with_the_fix(sandbox_tenant, run_steps, tmp_path):
    info = sandbox_tenant.info
    stranger, thumbprint, _ = app_certificate(tmp_path / "stranger.pem", "Stranger")
    tenant = make_tenant()
    connect_to_sandbox(
        tenant, info, actor="test", client_certificate=connect.certificate_credential(stranger.read_text())
    )

    failed = run_steps(tenant, until="connect").stopped_at

    assert failed.status == StepStatus.FAILED and failed.error_code == "AADSTS700027"
    assert f"Thumbprint of key used by client: '{thumbprint}'" in failed.error_message
    assert "Certificates & secrets" in failed.error_detail["fix"]


def test_a_wrong_certificate_does_not_replace_a_working_secret(sandbox_tenant, tmp_path, db):
    info = sandbox_tenant.info
    stranger, _, _ = app_certificate(tmp_path / "stranger.pem", "Stranger")
    tenant = connected_tenant(info)
    connect_to_sandbox(
        tenant, info, actor="test", client_certificate=connect.certificate_credential(stranger.read_text())
    )

    refused = run_inline(tenant, "connect")

    assert refused.status == StepStatus.FAILED and refused.error_code == "AADSTS700027"
    assert read_secret(tenant, SecretKind.CLIENT_SECRET) == info["client_secret"]
    assert not has_secret(tenant, SecretKind.CLIENT_CERTIFICATE)
    assert run_inline(tenant, "connect").status == StepStatus.SUCCEEDED, "the working secret was not kept"


@pytest.mark.parametrize(
    "pem, thumbprint, reason",
    [
        ("not a key", "", "This is not a PEM private key"),
        (None, "12AB", "40 hexadecimal characters"),
        (None, "00" * 20, "The thumbprint given is not the certificate's"),
    ],
)
def test_a_bad_certificate_is_refused_with_the_reason(sandbox_tenant, pem, thumbprint, reason):
    pem = pem or Path(sandbox_tenant.info["client_certificate_file"]).read_text()
    with pytest.raises(connect.CertificateInvalid, match=reason):
        connect.certificate_credential(pem, thumbprint)


def test_a_key_without_its_certificate_needs_the_thumbprint(sandbox_tenant):
    info = sandbox_tenant.info
    key_only = Path(info["client_certificate_file"]).read_text().split("-----BEGIN CERTIFICATE-----")[0]

    with pytest.raises(connect.CertificateInvalid, match="Give the certificate's thumbprint"):
        connect.certificate_credential(key_only)
    spaced = " ".join(info["certificate_thumbprint"][i : i + 2] for i in range(0, 40, 2)).lower()
    assert json.loads(connect.certificate_credential(key_only, spaced))["thumbprint"] == info["certificate_thumbprint"]


def test_onramp_connect_with_a_certificate_file(sandbox_tenant, tmp_path, celery_worker):
    info_file = tmp_path / "sandbox.json"
    # The certificate instead of the secret: the sandbox then writes no secret file to pass.
    info_file.write_text(json.dumps({**sandbox_tenant.info, "client_secret": ""}))
    out = io.StringIO()

    call_command(
        "onramp",
        "connect",
        "--slug",
        "certco",
        *sandbox_connect_arguments(info_file),
        "--client-certificate-file",
        sandbox_tenant.info["client_certificate_file"],
        stdout=out,
    )

    tenant = Tenant.objects.get(slug="certco")
    assert "Connected certco to Contoso" in out.getvalue()
    assert has_secret(tenant, SecretKind.CLIENT_CERTIFICATE) and not has_secret(tenant, SecretKind.CLIENT_SECRET)
    with pytest.raises(CommandError, match="40 hexadecimal characters"):
        call_command(
            "onramp",
            "connect",
            "--slug",
            "certco",
            *sandbox_connect_arguments(info_file),
            "--client-certificate-file",
            sandbox_tenant.info["client_certificate_file"],
            "--certificate-thumbprint",
            "xyz",
        )
