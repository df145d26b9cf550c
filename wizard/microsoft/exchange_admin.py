"""Exchange Online cmdlets through the admin API's InvokeCommand (the REST endpoint Exchange Online PowerShell
v3 itself uses), with an app-only token of the Exchange audience."""

from __future__ import annotations

import logging
from typing import Any

from wizard.microsoft.errors import exchange_error
from wizard.microsoft.http import Transport, response_json

log = logging.getLogger(__name__)

# Exchange routes app-only admin calls by this anchor; it is what the EXO v3 module sends for an app
# (unconfirmed in Microsoft's public docs; the sandbox ignores it).
_ANCHOR = "APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{tenant}"


class ExchangeAdminClient:
    def __init__(self, transport: Transport, admin_url: str, tenant_id: str = "", app_id: str = "") -> None:
        self.transport = transport
        self.admin_url = admin_url.rstrip("/")
        self.app_id = app_id
        self.headers = {"Prefer": "odata.maxpagesize=1000"}
        if tenant_id:
            self.headers["X-AnchorMailbox"] = _ANCHOR.format(tenant=tenant_id)

    def invoke(self, cmdlet: str, **parameters: Any) -> list[dict]:
        """Run `cmdlet` with `parameters` (PowerShell names, e.g. Identity=..., RoomList=True); every result object.

        None-valued parameters are left out, as PowerShell would. Pages (`@odata.nextLink`) are followed by POSTing
        the same body to the link. Raises an ExchangeCmdletError (ExchangeObjectNotFound,
        ExchangeObjectAlreadyExists, ...) or PermissionMissing.
        """
        body = {
            "CmdletInput": {"CmdletName": cmdlet, "Parameters": {k: v for k, v in parameters.items() if v is not None}}
        }
        url = f"{self.admin_url}/InvokeCommand"
        results: list[dict] = []
        while True:
            response = self.transport.request("POST", url, json=body, headers=self.headers)
            payload = response_json(response)
            if not response.ok:
                raise exchange_error(response.status_code, payload, response.headers, cmdlet=cmdlet, app=self.app_id)
            payload = payload or {}
            for warning in payload.get("adminapi.warnings") or []:
                log.info("%s: Exchange warning: %s", cmdlet, warning)
            value = payload.get("value", [])
            results.extend(value if isinstance(value, list) else [value])
            url = payload.get("@odata.nextLink") or ""
            if not url:
                return results
            if not url.startswith(self.admin_url.split("/adminapi/", 1)[0] + "/"):
                # Never send the tenant's token to another host.
                raise ValueError(f"refusing to follow a nextLink to {url.split('?', 1)[0]}")

    def invoke_one(self, cmdlet: str, **parameters: Any) -> dict | None:
        """The first result object, or None (for Get-* by Identity, Set-*, New-*)."""
        results = self.invoke(cmdlet, **parameters)
        return results[0] if results else None
