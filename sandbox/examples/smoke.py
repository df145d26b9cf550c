"""Smoke test of a running sandbox with only msal and requests (no sandbox imports).

python -m sandbox serve --port 8443 --rooms 200 --info /tmp/s.json &
python sandbox/examples/smoke.py /tmp/s.json
"""

import json
import sys

import msal
import requests


def main(info_path: str) -> None:
    with open(info_path) as f:
        info = json.load(f)
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify
    session.verify = info["ca_bundle"]
    app = msal.ConfidentialClientApplication(
        info["client_id"],
        client_credential=info["client_secret"],
        authority=info["authority"],
        instance_discovery=False,
        http_client=session,
    )
    graph_token = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]
    rooms, url = [], info["graph_url"] + "/places/microsoft.graph.room"
    while url:
        page = session.get(url, headers={"Authorization": f"Bearer {graph_token}"}, timeout=30)
        page.raise_for_status()
        rooms += page.json()["value"]
        url = page.json().get("@odata.nextLink")
    print(f"rooms through Graph: {len(rooms)}")

    exchange_token = app.acquire_token_for_client(scopes=["https://outlook.office365.com/.default"])["access_token"]
    response = session.post(
        info["exchange_admin_url"] + "/InvokeCommand",
        json={"CmdletInput": {"CmdletName": "Get-OrganizationConfig", "Parameters": {}}},
        headers={"Authorization": f"Bearer {exchange_token}"},
        timeout=30,
    )
    response.raise_for_status()
    config = response.json()["value"][0]
    print(f"Get-OrganizationConfig: {config['Name']} IsDehydrated={config['IsDehydrated']}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python sandbox/examples/smoke.py INFO_FILE")
    main(sys.argv[1])
