"""Client for the sandbox control endpoint; needs only requests, so any test or process can use it."""

from __future__ import annotations

from typing import Any

import requests


class CmdletFailed(Exception):
    """A cmdlet run through the control shell raised an Exchange error."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        error = body.get("error", {})
        message = next((d.get("message", "") for d in error.get("details") or []), "") or error.get("message", "")
        parts = message.split("|", 2)
        self.exception_type = parts[1] if len(parts) == 3 else ""
        self.text = parts[2] if len(parts) == 3 else message
        super().__init__(message)


class ScriptNotParsed(Exception):
    """The control shell could not parse a script (PowerShell would run none of it)."""


class SandboxControl:
    def __init__(self, control_url: str, ca_bundle: str) -> None:
        self.url = control_url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override verify
        self.session.verify = ca_bundle

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> SandboxControl:
        return cls(info["control_url"], info["ca_bundle"])

    def close(self) -> None:
        self.session.close()

    def _get(self, action: str) -> Any:
        response = self.session.get(f"{self.url}/{action}", timeout=30)
        response.raise_for_status()
        return response.json()

    def _post(self, action: str, payload: dict[str, Any] | None = None) -> Any:
        response = self.session.post(f"{self.url}/{action}", json=payload or {}, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    # -- inspection ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return self._get("state")

    def calls(self) -> dict[str, Any]:
        """{"calls": {endpoint or cmdlet: n}, "writes": n, "write_calls": {...}, "throttled": n, "faults": n}."""
        return self._get("calls")

    def reset_calls(self) -> None:
        self._post("calls/reset")

    def knobs(self) -> dict[str, Any]:
        return self._get("knobs")

    # -- changes ---------------------------------------------------------------------------------
    def set_knobs(self, **knobs: Any) -> dict[str, Any]:
        return self._post("knobs", knobs)

    def reset(self, **knobs: Any) -> None:
        """Rebuild the seed (applying any knobs given first), reset the clock and the call counts."""
        self._post("reset", knobs)

    def advance(self, seconds: float) -> None:
        """Move the tenant's clock forward: provisioning, replication and customisation delays elapse."""
        self._post("advance", {"seconds": seconds})

    def invoke(self, cmdlet: str, **params: Any) -> list[dict[str, Any]]:
        """Run a cmdlet as the organisation's admin in the Exchange Management Shell (no token, no throttling)."""
        response = self.session.post(
            f"{self.url}/invoke", json={"CmdletName": cmdlet, "Parameters": params}, timeout=30
        )
        if response.status_code == 400:
            raise CmdletFailed(response.json())
        response.raise_for_status()
        return response.json()["value"]

    def run_script(
        self, script: str, files: dict[str, str] | None = None, typed: list[str] | None = None
    ) -> dict[str, Any]:
        """Run a whole script in the admin's Exchange Management Shell (Exchange Server): `files` are the files in
        the folder it runs in (for Import-Csv), `typed` the lines the admin types at Read-Host prompts.

        Returns {"output", "host", "errors", "writes", "changes"}; raises ScriptNotParsed when PowerShell would
        refuse to parse the script (then nothing ran)."""
        response = self.session.post(
            f"{self.url}/script", json={"Script": script, "Files": files or {}, "Input": typed or []}, timeout=120
        )
        if response.status_code == 400:
            raise ScriptNotParsed(response.json()["error"]["message"])
        response.raise_for_status()
        return response.json()

    def remove_delegated_consent(self, app_id: str | None = None, scopes: list[str] | None = None) -> None:
        """Remove every delegated permission grant of Onramp's sign-in app (or `app_id`), the person's and the
        organisation's: its refresh tokens then answer AADSTS65001. With `scopes`, take only those out of them."""
        body = {**({"app_id": app_id} if app_id else {}), **({"scopes": scopes} if scopes is not None else {})}
        self._post("consent/remove", body)

    def consent_for_organisation(self, app_id: str, scopes: list[str]) -> None:
        """An administrator's consent for everyone to the app's delegated Microsoft Graph `scopes` ("AllPrincipals")."""
        self._post("consent/grant", {"app_id": app_id, "scopes": scopes})

    def add_service_principal(self, app_id: str, display_name: str) -> None:
        """Another vendor's multi-tenant app gets an enterprise app here, as when an administrator consented to it
        from the vendor's own portal."""
        self._post("service-principals", {"app_id": app_id, "display_name": display_name})

    def revoke_refresh_tokens(self) -> None:
        """Revoke every refresh token issued so far (AADSTS50173 on their next use)."""
        self.set_knobs(revoke_refresh_tokens=True)

    def set_group_memberships(self, user: str, groups: list[str]) -> None:
        """Make `user` (UPN or id) a member of exactly these Entra groups."""
        self._post("memberships", {"user": user, "groups": groups})

    def set_directory_roles(self, user: str, roles: list[str]) -> None:
        """Give `user` (UPN or id) exactly these active directory roles (template ids)."""
        self._post("people/roles", {"user": user, "roles": roles})

    def refuse_invoke_command(self, refused: bool = True) -> None:
        """InvokeCommand refuses every app as a client (403 ErrorAccessDenied), or serves them again."""
        self.set_knobs(invoke_command_refused=refused)

    def set_consent_refused(self, refused: bool = True) -> None:
        self.set_knobs(consent_refused=refused)

    def remove_connector_permission(self, name: str, app_id: str | None = None) -> dict[str, Any]:
        """Revoke a Graph/Exchange app role (e.g. "User.ReadWrite.All", "Exchange.ManageAsApp") or the
        "Exchange Administrator" directory role from Onramp's app (or `app_id`)."""
        return self._post("permissions", {"remove": [name], **({"app_id": app_id} if app_id else {})})

    def app_permissions(self, app_id: str | None = None) -> dict[str, Any]:
        """Onramp's app's (or `app_id`'s) application permissions on Graph and Exchange, and its directory roles."""
        return self._post("permissions", {"app_id": app_id} if app_id else {})

    def grant_permission(self, name: str, app_id: str | None = None, resource: str | None = None) -> dict[str, Any]:
        """Grant an app role to Onramp's app (or `app_id`): on Graph, or on `resource` "exchange"."""
        extra = {**({"app_id": app_id} if app_id else {}), **({"resource": resource} if resource else {})}
        return self._post("permissions", {"add": [name], **extra})

    def add_mailbox(self, kind: str = "room", **fields: Any) -> dict[str, Any]:
        """Add a mailbox (kind room | equipment | user; alias, display_name, building, floor, capacity)."""
        return self._post("mailboxes", {"kind": kind, **fields})

    def remove_mailbox(self, address: str) -> None:
        self._post("mailboxes/remove", {"address": address})
