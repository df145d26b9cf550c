"""Each exchange_server step's form data turned into the inputs saved on the step (see wizard.services.step_inputs
for the contract). The service account's password is stored encrypted and never lands in the inputs."""

from typing import Any

from wizard.outcomes import Submission
from wizard.rooms_csv import RowStatus
from wizard.services import exchange_server
from wizard.services.room_list import alias_for


def connect_inputs(submission: Submission) -> dict[str, Any]:
    data = submission.cleaned_data
    return exchange_server.save_connection(
        submission.tenant,
        submission.actor,
        service_account_upn=data["service_account_upn"].lower(),
        password=data["password"] or None,
        ews_url=data["ews_url"] or "",
        auth=data["auth"],
    )


def room_list_inputs(submission: Submission) -> dict[str, Any]:
    name = submission.cleaned_data["name"].strip()
    return {"name": name, "alias": alias_for(name), "address": submission.cleaned_data["address"].lower()}


def rooms_inputs(submission: Submission) -> dict[str, Any]:
    parsed = submission.cleaned_data["csv_file"]
    valid = [row.address for row in parsed.rows if row.status == RowStatus.VALID and row.address]
    refused = [
        {"line": row.line, "raw": row.raw, "status": row.status, "reason": row.reason}
        for row in parsed.rows
        if row.status != RowStatus.VALID
    ]
    return {"rooms": valid, "refused_rows": refused}
