"""A tiny Microsoft client built only on msal and requests, as a client of the real services would be."""

from __future__ import annotations

from typing import Any

import msal
import requests


class MsClient:
    """Talks to a sandbox exactly as a client of the real services would (no sandbox imports)."""

    def __init__(self, info: dict[str, Any], client_id: str | None = None, secret: str | None = None) -> None:
        self.info = info
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = info["ca_bundle"]
        self.app = msal.ConfidentialClientApplication(
            client_id or info["client_id"],
            client_credential=secret or info["client_secret"],
            authority=info["authority"],
            instance_discovery=False,
            http_client=self.session,
        )

    def token(self, scope: str) -> str:
        result = self.app.acquire_token_for_client(scopes=[scope])
        assert "access_token" in result, result
        return result["access_token"]

    def graph(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("https://") else self.info["graph_url"] + path
        headers = {"Authorization": "Bearer " + self.token(self.info["graph_scope"]), **kwargs.pop("headers", {})}
        return self.session.request(method, url, headers=headers, timeout=30, **kwargs)

    def graph_all(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = path
        while url:
            response = self.graph("GET", url)
            assert response.status_code == 200, response.text
            body = response.json()
            items += body["value"]
            url = body.get("@odata.nextLink")
        return items

    def invoke_raw(self, cmdlet: str, url: str | None = None, **params: Any) -> requests.Response:
        headers = {"Authorization": "Bearer " + self.token(self.info["exchange_scope"])}
        return self.session.post(
            url or self.info["exchange_admin_url"] + "/InvokeCommand",
            json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}},
            headers=headers,
            timeout=30,
        )

    def invoke(self, cmdlet: str, **params: Any) -> list[dict[str, Any]]:
        response = self.invoke_raw(cmdlet, **params)
        assert response.status_code == 200, response.text
        return response.json()["value"]

    def invoke_error(self, cmdlet: str, **params: Any) -> tuple[str, str]:
        """The exception type and text of a failing cmdlet, read as a client must: from error.details[].message,
        between the first `|`s. Not found is a 404, other cmdlet errors a 400."""
        response = self.invoke_raw(cmdlet, **params)
        assert response.status_code in (400, 404), response.text
        error = response.json()["error"]
        assert error["message"] == "Error executing cmdlet", error
        _, exc_type, text = error["details"][0]["message"].split("|", 2)
        assert (response.status_code == 404) == exc_type.endswith(".ManagementObjectNotFoundException"), error
        assert error["code"] == ("NotFound" if response.status_code == 404 else "BadRequest"), error
        return exc_type, text
