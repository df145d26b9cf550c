"""Each exchange_online step's form data turned into the inputs saved on the step. Secrets go encrypted into
tenants.secrets here and never into the inputs. Called by wizard.actions.submit_step inside the transaction that
queues the step, after the step's transition was checked, so a refused submission stores nothing."""

from typing import Any

from tenants.models import SecretKind
from tenants.secrets import store_secret
from wizard.audit import record_event
from wizard.outcomes import Submission
from wizard.services import ca_bundles, connect, room_list, rooms


def connect_inputs(submission: Submission) -> dict[str, Any]:
    data = submission.cleaned_data
    custom_endpoints = data.get("custom_endpoints")
    if custom_endpoints is not None and data.get("ca_bundle"):
        custom_endpoints = {
            **custom_endpoints,
            "ca_bundle": ca_bundles.store_ca_bundle(submission.tenant, data["ca_bundle"]),
        }
    connect.save_app_credentials(
        submission.tenant,
        actor=submission.actor,
        microsoft_tenant_id=data["microsoft_tenant_id"],
        client_id=data["client_id"],
        client_secret=data["client_secret"] or None,
        client_certificate=data.get("client_certificate") or None,
        integration_app_id=data["integration_app_id"],
        integration_client_secret=data["integration_client_secret"] or None,
        cloud=data["cloud"],
        custom_endpoints=custom_endpoints,
    )
    if data.get(connect.SHARE_INPUT):
        return {"method": "app_credentials", connect.SHARE_INPUT: True, connect.SHARE_DECIDED_BY: submission.actor}
    return {"method": "app_credentials"}


def service_account_inputs(submission: Submission) -> dict[str, Any]:
    data = submission.cleaned_data
    return {
        "user_principal_name": f"{data['local_part']}@{data['domain']}".lower(),
        "display_name": data["display_name"],
        "usage_location": data["usage_location"].upper(),
        "sku_id": data["sku_id"],
    }


def room_list_inputs(submission: Submission) -> dict[str, Any]:
    data = submission.cleaned_data
    return {
        "name": data["name"].strip(),
        "address": data["address"].lower(),
        "convert_existing_group": data["convert_existing_group"],
        # The confirmation that Onramp may remove the non-room members it named (room_list.REMOVE_INPUT).
        room_list.REMOVE_INPUT: bool(data.get(room_list.REMOVE_INPUT)),
    }


def rooms_inputs(submission: Submission) -> dict[str, Any]:
    """A new choice of rooms (previewed first), or the confirmation of the preview already saved."""
    data = submission.cleaned_data
    if data.get("confirm"):
        return {**submission.saved_inputs, "confirmed": True}
    if data["source"] == rooms.SOURCE_CSV:
        return rooms.csv_inputs(data["parsed"])
    return rooms.all_rooms_inputs(include_equipment=data["include_equipment"])


def activate_inputs(submission: Submission) -> dict[str, Any]:
    secret = submission.cleaned_data.get("webhook_secret")
    if secret:
        store_secret(submission.tenant, SecretKind.WEBHOOK_SECRET, secret)
        record_event(
            submission.tenant,
            submission.actor,
            "store_secret",
            "stored",
            "activate",
            {"kind": SecretKind.WEBHOOK_SECRET},
        )
    return {"webhook_url": submission.cleaned_data.get("webhook_url") or ""}
