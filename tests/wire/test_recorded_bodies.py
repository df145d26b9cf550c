"""The client layer's parsing, against bodies written from public captures and Microsoft's references
(tests/wire/bodies, each naming its sources) and against the sandbox's answers to the same calls: both must read
the same way, so the sandbox cannot drift from what Microsoft sends without a test failing."""

import pytest

from tests.sandbox.sandbox_client import MsClient
from tests.wire.conftest import recorded
from wizard.microsoft.errors import (
    ExchangeCmdletError,
    ExchangeObjectAlreadyExists,
    ExchangeObjectNotFound,
    ResultsTruncated,
    exchange_error,
)
from wizard.microsoft.exchange_admin import read_page
from wizard.services.grants import assigned_to
from wizard.steps.exchange_online.connect.service import licences_from_skus
from wizard.steps.exchange_online.room_list.service import identities_of, is_manager
from wizard.steps.exchange_online.scoped_access.service import filter_dns, scope_filter

NOT_FOUND = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
NOT_MANAGER = "Microsoft.Exchange.Configuration.Tasks.OperationRequiresGroupManagerException"


def _error(name: str, cmdlet: str = "Get-DistributionGroup"):
    status, body = recorded(name)
    return exchange_error(status, body, {}, cmdlet=cmdlet)


def _sandbox_error(ms: MsClient, cmdlet: str, **params):
    response = ms.invoke_raw(cmdlet, **params)
    return exchange_error(response.status_code, response.json(), response.headers, cmdlet=cmdlet), response.json()


def _keys(error: dict) -> dict:
    inner = error["innererror"]
    internal = inner.get("internalexception") or inner.get("internalException") or {}
    return {
        "error": set(error),
        "detail": set(error["details"][0]) if error.get("details") else set(),
        "inner": {key.lower() for key in inner} - {"stacktrace"},
        "internal": {key.lower() for key in internal} - {"stacktrace"},
    }


def test_not_found_reads_the_typed_text_from_details():
    error = _error("cmdlet_not_found")
    assert isinstance(error, ExchangeObjectNotFound) and error.status == 404
    assert error.exception_type == NOT_FOUND and error.extra == {"error_id": "Ex6F9304"}
    assert error.message.startswith("The operation couldn't be performed because object 'rooms-hq@")


def test_without_details_the_inner_exception_is_read():
    error = _error("cmdlet_error_inner_only", cmdlet="Add-DistributionGroupMember")
    assert isinstance(error, ExchangeObjectAlreadyExists) and error.is_already_member
    assert error.message.startswith('The recipient "room-007@')


def test_an_untyped_404_is_still_not_found():
    error = _error("cmdlet_not_found_untyped")
    assert isinstance(error, ExchangeObjectNotFound) and error.exception_type == ""
    assert error.message == "An server side error occured."


def test_a_refused_non_manager_is_a_typed_cmdlet_error():
    error = _error("cmdlet_not_a_manager", cmdlet="Add-DistributionGroupMember")
    assert type(error) is ExchangeCmdletError and error.exception_type == NOT_MANAGER
    assert error.message.endswith("can only be performed by a manager of the group.")


def test_the_sandbox_answers_errors_in_the_recorded_shape(sandbox_tenant):
    ms = MsClient(sandbox_tenant.info)
    recorded_error = recorded("cmdlet_not_found")[1]["error"]
    error, body = _sandbox_error(ms, "Get-DistributionGroup", Identity="rooms-hq@contoso.com")
    assert isinstance(error, ExchangeObjectNotFound) and error.status == 404
    assert error.exception_type == NOT_FOUND and error.extra == {"error_id": "Ex6F9304"}
    assert body["error"]["code"] == recorded_error["code"] and body["error"]["message"] == recorded_error["message"]
    assert _keys(body["error"]) == _keys(recorded_error)

    ms.invoke("New-DistributionGroup", Name="Rooms HQ", Alias="rooms-hq", RoomList=True)
    refused, body = _sandbox_error(ms, "Add-DistributionGroupMember", Identity="rooms-hq", Member="room-001")
    expected = _error("cmdlet_not_a_manager", cmdlet="Add-DistributionGroupMember")
    assert (refused.exception_type, refused.message, refused.status) == (
        expected.exception_type,
        expected.message,
        expected.status,
    )
    assert _keys(body["error"]) == _keys(recorded("cmdlet_not_a_manager")[1]["error"])


def test_truncation_never_passes_silently(sandbox_tenant):
    with pytest.raises(ResultsTruncated):
        read_page(recorded("get_mailbox_truncated")[1], "Get-Mailbox")
    answer = MsClient(sandbox_tenant.info).invoke_raw("Get-Mailbox", ResultSize=2).json()
    with pytest.raises(ResultsTruncated) as caught:
        read_page(answer, "Get-Mailbox")
    assert "There are more results available than are currently displayed" in caught.value.message


def test_other_warnings_are_kept_and_logged(sandbox_tenant, caplog):
    page = read_page(recorded("set_group_no_change")[1], "Set-DistributionGroup")
    assert page.value == [] and page.warnings[0].startswith("The command completed successfully but no settings")
    ms = MsClient(sandbox_tenant.info)
    ms.invoke("New-DistributionGroup", Name="Rooms HQ", RoomList=True)
    answer = ms.invoke_raw(
        "Set-DistributionGroup", Identity="Rooms HQ", RoomList=True, BypassSecurityGroupManagerCheck=True
    ).json()
    assert set(answer) == set(recorded("set_group_no_change")[1])
    with caplog.at_level("WARNING"):
        page = read_page(answer, "Set-DistributionGroup")
    assert page.warnings == ["The command completed successfully but no settings of 'Rooms HQ' have been modified."]
    assert "no settings of 'Rooms HQ'" in caplog.text


def test_a_manager_is_recognised_by_its_object_id_name_never_by_alias(sandbox_tenant):
    mailbox = recorded("get_mailbox_service_account")[1]["value"][0]
    group = recorded("get_distribution_group")[1]["value"][0]
    identities = identities_of(mailbox, "onramp-svc@fabrikam.example")
    assert is_manager(group, identities) and "onramp-svc" not in identities
    assert not is_manager({"ManagedBy": ["onramp-svc"]}, identities)

    ms = MsClient(sandbox_tenant.info)
    created = ms.graph(
        "POST",
        "/users",
        json={
            "accountEnabled": True,
            "displayName": "Room booking service",
            "mailNickname": "onramp-svc",
            "userPrincipalName": "onramp-svc@contoso.com",
            "usageLocation": "US",
            "passwordProfile": {"password": "Str0ng!Passw0rd#2026", "forceChangePasswordNextSignIn": False},
        },
    ).json()
    sku = "f245ecc8-75af-4f8e-b61f-27d8114de5f3"
    body = {"addLicenses": [{"skuId": sku, "disabledPlans": []}], "removeLicenses": []}
    assert ms.graph("POST", f"/users/{created['id']}/assignLicense", json=body).status_code == 200
    [sandbox_mailbox] = ms.invoke("Get-Mailbox", Identity="onramp-svc@contoso.com")
    assert sandbox_mailbox["Name"] == created["id"] == sandbox_mailbox["ExternalDirectoryObjectId"]
    assert sandbox_mailbox["DistinguishedName"].startswith(f"CN={created['id']},")
    [sandbox_group] = ms.invoke(
        "New-DistributionGroup", Name="Rooms HQ", RoomList=True, ManagedBy=["onramp-svc@contoso.com"]
    )
    assert sandbox_group["ManagedBy"] == [created["id"]]
    assert is_manager(sandbox_group, identities_of(sandbox_mailbox, "onramp-svc@contoso.com"))


def test_the_scope_filter_is_read_from_recipient_filter(sandbox_tenant):
    scope = recorded("get_management_scope")[1]["value"][0]
    assert {dn.split(",", 1)[0] for dn in filter_dns(scope_filter(scope))} == {"cn=rooms hq", "cn=rooms hq 02"}
    ms = MsClient(sandbox_tenant.info)
    [group] = ms.invoke("New-DistributionGroup", Name="Rooms HQ", RoomList=True)
    dn = group["DistinguishedName"]
    ms.invoke("New-ManagementScope", Name="Rooms", RecipientRestrictionFilter=f"MemberOfGroup -eq '{dn}'")
    [sandbox_scope] = ms.invoke("Get-ManagementScope", Identity="Rooms")
    assert filter_dns(scope_filter(sandbox_scope)) == {dn.lower()}
    assert set(scope) - {"Name"} <= set(sandbox_scope)


def test_only_mailbox_plans_count_as_exchange(sandbox_tenant):
    licences = {lic["sku_part_number"]: lic for lic in licences_from_skus(recorded("subscribed_skus")[1]["value"])}
    assert [name for name, lic in licences.items() if lic["has_exchange"]] == ["ENTERPRISEPACK"]
    assert licences["FLOW_FREE"]["free_units"] > 9000
    skus = MsClient(sandbox_tenant.info).graph("GET", "/subscribedSkus").json()["value"]
    sandbox_licences = licences_from_skus(skus)
    assert [lic["sku_part_number"] for lic in sandbox_licences if lic["has_exchange"]] == ["O365_BUSINESS_PREMIUM"]
    free = [lic for lic in sandbox_licences if not lic["has_exchange"]]
    assert {lic["sku_part_number"] for lic in free} >= {"POWER_BI_STANDARD", "FLOW_FREE", "TEAMS_EXPLORATORY"}
    assert all(lic["free_units"] >= 25 for lic in free)


def test_assignments_are_matched_to_the_app_by_assignee(sandbox_tenant):
    assignments = recorded("get_role_assignments_by_role")[1]["value"]
    ours = assigned_to(assignments, {"1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"})
    assert [a["Name"] for a in ours] == ["Application Calendars.ReadWrite-Calendar Integration"]
    by_exchange_identity = assigned_to(assignments, {"0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d"})
    assert [a["CustomResourceScope"] for a in by_exchange_identity] == [None]

    ms = MsClient(sandbox_tenant.info)
    app_id = sandbox_tenant.info["integration_app_id"]
    ms.invoke("New-ServicePrincipal", AppId=app_id, ObjectId="2c3d4e5f-0000-4000-8000-00000000000a")
    ms.invoke("New-ManagementRoleAssignment", App=app_id, Role="Application Calendars.ReadWrite")
    by_role = ms.invoke("Get-ManagementRoleAssignment", Role="Application Calendars.ReadWrite")
    assert [a["Role"] for a in assigned_to(by_role, {app_id.lower()})] == ["Application Calendars.ReadWrite"]
    assert set(assignments[0]) <= set(by_role[0])
