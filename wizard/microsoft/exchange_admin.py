"""Exchange Online cmdlets through the admin API's InvokeCommand (the REST endpoint Exchange Online PowerShell
v3 itself uses), with an app-only token of the Exchange audience."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from wizard.microsoft.errors import exchange_error, results_truncated
from wizard.microsoft.http import Transport, response_json

log = logging.getLogger(__name__)

# Exchange routes admin calls by this anchor: for an app what the EXO v3 module sends, for a signed-in person their
# own UPN (both unconfirmed in Microsoft's public docs; CIPP-API's New-ExoRequest anchors a person's calls on a
# mailbox, a system mailbox when no parameter names one; the sandbox ignores it).
APP_ANCHOR = "APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{tenant}"
USER_ANCHOR = "UPN:{upn}"
WARNINGS = "@adminapi.warnings"
TRUNCATED = "There are more results available than are currently displayed"
# An app is never in a group's ManagedBy (it holds mailboxes), so every change to a distribution group or its
# members needs this switch (Add-DistributionGroupMember reference); the client adds it so no call can forget it.
GROUP_MANAGER_CHECK = "BypassSecurityGroupManagerCheck"
GROUP_MANAGER_CMDLETS = frozenset(
    {
        "Set-DistributionGroup",
        "Remove-DistributionGroup",
        "Add-DistributionGroupMember",
        "Remove-DistributionGroupMember",
        "Update-DistributionGroupMember",
    }
)


def hashtable(**edits: list[str]) -> dict[str, Any]:
    """A multi-valued parameter edit such as ManagedBy=hashtable(Add=[...]): InvokeCommand binds a JSON object to
    a hashtable only with this type annotation (as CIPP-API sends it)."""
    return {"@odata.type": "#Exchange.GenericHashTable", **edits}


@dataclass
class ResultPage:
    """One InvokeCommand answer: its objects, Exchange's warnings and the link to the next page."""

    value: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    next_link: str = ""


def read_page(payload: Any, cmdlet: str) -> ResultPage:
    """Parse a 200 answer. Warnings are logged; a truncated result raises ResultsTruncated, never passes."""
    payload = payload if isinstance(payload, dict) else {}
    warnings = [str(warning) for warning in payload.get(WARNINGS) or []]
    for warning in warnings:
        log.warning("%s: Exchange warning: %s", cmdlet, warning)
        if TRUNCATED.lower() in warning.lower():
            raise results_truncated(cmdlet, warning)
    value = payload.get("value", [])
    return ResultPage(
        value=value if isinstance(value, list) else [value],
        warnings=warnings,
        next_link=str(payload.get("@odata.nextLink") or ""),
    )


class ExchangeAdminClient:
    def __init__(
        self, transport: Transport, admin_url: str, tenant_id: str = "", app_id: str = "", *, anchor: str = ""
    ) -> None:
        self.transport = transport
        self.admin_url = admin_url.rstrip("/")
        self.app_id = app_id
        self.headers = {"Prefer": "odata.maxpagesize=1000"}
        if tenant_id:
            self.headers["X-AnchorMailbox"] = anchor or APP_ANCHOR.format(tenant=tenant_id)

    def invoke(self, cmdlet: str, **parameters: Any) -> list[dict]:
        """Run `cmdlet` with `parameters` (PowerShell names, e.g. Identity=..., RoomList=True); every result object.

        None-valued parameters are left out, as PowerShell would. Pages (`@odata.nextLink`) are followed by POSTing
        the same body to the link. Raises an ExchangeCmdletError (ExchangeObjectNotFound,
        ExchangeObjectAlreadyExists, ResultsTruncated, ...) or PermissionMissing.
        """
        parameters = {k: v for k, v in parameters.items() if v is not None}
        if cmdlet in GROUP_MANAGER_CMDLETS:
            parameters[GROUP_MANAGER_CHECK] = True
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}
        url = f"{self.admin_url}/InvokeCommand"
        results: list[dict] = []
        while True:
            response = self.transport.request("POST", url, json=body, headers=self.headers)
            payload = response_json(response)
            if not response.ok:
                raise exchange_error(response.status_code, payload, response.headers, cmdlet=cmdlet, app=self.app_id)
            page = read_page(payload, cmdlet)
            results.extend(page.value)
            url = page.next_link
            if not url:
                return results
            if not url.startswith(self.admin_url.split("/adminapi/", 1)[0] + "/"):
                # Never send the tenant's token to another host.
                raise ValueError(f"refusing to follow a nextLink to {url.split('?', 1)[0]}")

    def invoke_one(self, cmdlet: str, **parameters: Any) -> dict | None:
        """The first result object, or None (for Get-* by Identity, Set-*, New-*)."""
        results = self.invoke(cmdlet, **parameters)
        return results[0] if results else None
