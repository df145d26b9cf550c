"""Each exchange_server step's form data turned into the inputs saved on the step (see wizard.services.step_inputs
for the contract). The service account's password is stored encrypted and never lands in the inputs."""

from typing import Any

from wizard.outcomes import Submission
from wizard.rooms_csv import RowStatus
from wizard.services import exchange_server
from wizard.services import exchange_server_scripts as scripts
from wizard.services.room_list import alias_for


def service_account_inputs(submission: Submission) -> dict[str, Any]:
    data = submission.cleaned_data
    return {
        "service_account_upn": data["service_account_upn"].lower(),
        "display_name": data["display_name"].strip() or exchange_server.DEFAULT_DISPLAY_NAME,
    }


def connect_inputs(submission: Submission) -> dict[str, Any]:
    data = submission.cleaned_data
    return exchange_server.save_connection(
        submission.tenant,
        submission.actor,
        service_account_upn=data["service_account_upn"].lower(),
        password=data["password"] or None,
        ews_url=data["ews_url"] or "",
        ca_certificates=data["ca_certificates"] or None,
    )


def room_list_inputs(submission: Submission) -> dict[str, Any]:
    name = submission.cleaned_data["name"].strip()
    return {"name": name, "alias": alias_for(name), "address": submission.cleaned_data["address"].lower()}


def rooms_inputs(submission: Submission) -> dict[str, Any]:
    """A new upload's valid rows (or the rooms uploaded before), less the rows the script's warnings left out."""
    parsed = submission.cleaned_data["csv_file"]
    if parsed is not None:
        rooms = [row.address.lower() for row in parsed.rows if row.status == RowStatus.VALID and row.address]
        refused = [
            {"line": row.line, "raw": row.raw, "address": row.address, "status": row.status, "reason": row.reason}
            for row in parsed.rows
            if row.status != RowStatus.VALID
        ]
    else:
        rooms = list(submission.saved_inputs.get("rooms") or [])
        refused = list(submission.saved_inputs.get("refused_rows") or [])
    for status, address in scripts.left_out_in_warnings(submission.cleaned_data.get("left_out", "")):
        if address in rooms:
            rooms.remove(address)
            refused.append({"line": None, "raw": address, "address": address, "status": status, "reason": status.label})
    return {"rooms": rooms, "refused_rows": refused}
