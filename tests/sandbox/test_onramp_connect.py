"""`python -m sandbox onramp-connect`: the arguments that point `onramp connect` at a sandbox, secrets kept off them."""

import json
import stat
import subprocess
import sys


def test_the_printed_arguments_name_every_endpoint_and_pass_the_secrets_in_private_files(tmp_path):
    info = {
        "tenant_id": "t-1",
        "client_id": "c-1",
        "client_secret": "connector-s3cret",
        "integration_app_id": "a-1",
        "integration_client_secret": "integration-s3cret",
        "authority": "https://127.0.0.1:8443/t-1",
        "graph_url": "https://127.0.0.1:8443/v1.0",
        "exchange_admin_url": "https://127.0.0.1:8443/adminapi/beta/t-1",
        "ews_url": "https://127.0.0.1:8443/EWS/Exchange.asmx",
        "ca_bundle": "/tmp/sandbox-ca.pem",
        "control_url": "https://127.0.0.1:8443/_sandbox",
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(info))

    printed = subprocess.run(
        [sys.executable, "-m", "sandbox", "onramp-connect", "--info", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    words = printed.split()
    options = dict(zip(words[::2], words[1::2], strict=True))
    assert options == {
        "--tenant-id": "t-1",
        "--client-id": "c-1",
        "--integration-app-id": "a-1",
        "--authority": info["authority"],
        "--graph-url": info["graph_url"],
        "--exchange-url": info["exchange_admin_url"],
        "--ews-url": info["ews_url"],
        "--ca-bundle": info["ca_bundle"],
        "--client-secret-file": str(tmp_path / "s.client-secret"),
        "--integration-secret-file": str(tmp_path / "s.integration-secret"),
    }
    assert "s3cret" not in printed
    for name, secret in (("s.client-secret", "connector-s3cret"), ("s.integration-secret", "integration-s3cret")):
        assert (tmp_path / name).read_text().strip() == secret
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_an_unreadable_info_file_is_named(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "sandbox", "onramp-connect", "--info", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "Cannot read the sandbox info file" in run.stderr and not run.stdout
