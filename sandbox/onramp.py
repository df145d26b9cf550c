"""The sandbox's side of connecting Onramp to it: `onramp connect`'s arguments for a running sandbox tenant.

Onramp knows nothing of the sandbox: it is pointed at it like at any deployment with explicit endpoints
(`onramp connect --authority … --graph-url … --ca-bundle …`). This module turns the sandbox's info file into those
arguments, so `onramp connect --slug demo $(python -m sandbox onramp-connect --info sandbox.json)` connects a tenant.
The two secrets are written to files beside the info file (mode 0600) and passed by path, never on the command line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# info file key → `onramp connect` flag, for the values passed as they are.
CONNECT_FLAGS = (
    ("tenant_id", "--tenant-id"),
    ("client_id", "--client-id"),
    ("integration_app_id", "--integration-app-id"),
    ("authority", "--authority"),
    ("graph_url", "--graph-url"),
    ("exchange_admin_url", "--exchange-url"),
    ("ews_url", "--ews-url"),
    ("ca_bundle", "--ca-bundle"),
)
# info file key → (the flag that names a file holding it, the file's suffix beside the info file).
SECRET_FLAGS = (
    ("client_secret", "--client-secret-file", ".client-secret"),
    ("integration_client_secret", "--integration-secret-file", ".integration-secret"),
)


def _write_secret(path: Path, secret: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret + "\n")


def connect_arguments(info: Mapping[str, Any], secrets_beside: Path) -> list[str]:
    """`onramp connect`'s arguments for the sandbox described by `info`; its secrets are written to files named
    after `secrets_beside` (the info file)."""
    arguments: list[str] = []
    for key, flag in CONNECT_FLAGS:
        if info.get(key):
            arguments += [flag, str(info[key])]
    for key, flag, suffix in SECRET_FLAGS:
        if info.get(key):
            path = secrets_beside.with_suffix(suffix)
            _write_secret(path, str(info[key]))
            arguments += [flag, str(path)]
    return arguments
