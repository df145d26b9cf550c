from sandbox_client import MsClient

EXCHANGE_SKU = "f245ecc8-75af-4f8e-b61f-27d8114de5f3"
POWER_BI_SKU = "a403ebcc-fae0-4ca2-8c8c-7a907fd6c235"


def new_user(ms, upn="svc-rooms@contoso.com", usage_location="US", **extra):
    body = {
        "accountEnabled": True,
        "displayName": "Room service",
        "mailNickname": upn.split("@")[0],
        "userPrincipalName": upn,
        "passwordProfile": {"password": "Sandbox-Passw0rd!", "forceChangePasswordNextSignIn": False},
        **extra,
    }
    if usage_location:
        body["usageLocation"] = usage_location
    return ms.graph("POST", "/users", json=body)


def license(ms, user_id, sku=EXCHANGE_SKU):
    return ms.graph(
        "POST",
        f"/users/{user_id}/assignLicense",
        json={"addLicenses": [{"skuId": sku, "disabledPlans": []}], "removeLicenses": []},
    )


def test_error_envelope_and_request_id(ms):
    response = ms.graph("GET", "/users/nobody@contoso.com", headers={"client-request-id": "abc"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "Request_ResourceNotFound"
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert response.headers["request-id"] == error["innerError"]["request-id"]


def test_organization_and_domains(ms):
    org = ms.graph("GET", "/organization").json()["value"][0]
    assert org["id"] == ms.info["tenant_id"]
    domains = {d["id"]: d for d in ms.graph("GET", "/domains").json()["value"]}
    assert domains["contoso.onmicrosoft.com"]["isVerified"] and domains["contoso.com"]["isDefault"]
    assert domains["fabrikam.com"]["isVerified"] is False


def test_create_user_then_duplicate_upn(ms):
    created = new_user(ms)
    assert created.status_code == 201, created.text
    assert created.json()["userPrincipalName"] == "svc-rooms@contoso.com"
    duplicate = new_user(ms, upn="SVC-rooms@contoso.com")
    assert duplicate.status_code == 400
    assert duplicate.json()["error"] == {
        **duplicate.json()["error"],
        "code": "Request_BadRequest",
        "message": "Another object with the same value for property userPrincipalName already exists.",
    }


def test_create_user_validation(ms):
    assert "verified domain" in new_user(ms, upn="svc@fabrikam.com").json()["error"]["message"]
    weak = new_user(ms, upn="svc2@contoso.com", passwordProfile={"password": "short"})
    assert "password complexity" in weak.json()["error"]["message"]


def test_default_user_properties_and_select(ms):
    user_id = new_user(ms).json()["id"]
    plain = ms.graph("GET", f"/users/{user_id}").json()
    assert "usageLocation" not in plain and plain["mail"] is None
    selected = ms.graph("GET", f"/users/{user_id}?$select=id,usageLocation,assignedLicenses").json()
    assert selected["usageLocation"] == "US" and selected["assignedLicenses"] == []
    found = ms.graph("GET", "/users?$filter=userPrincipalName eq 'svc-rooms@contoso.com'").json()["value"]
    assert [u["id"] for u in found] == [user_id]
    bad = ms.graph("GET", "/users?$filter=department eq 'x'")
    assert bad.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_assign_license_needs_usage_location(ms):
    user_id = new_user(ms, usage_location=None).json()["id"]
    refused = license(ms, user_id)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "License assignment cannot be done for user with invalid usage location."
    )
    assert ms.graph("PATCH", f"/users/{user_id}", json={"usageLocation": "NL"}).status_code == 204
    assert license(ms, user_id).status_code == 200


def test_assign_license_with_no_free_units(make_sandbox):
    sandbox = make_sandbox(free_licenses=0)
    ms = MsClient(sandbox.info)
    skus = {s["skuPartNumber"]: s for s in ms.graph("GET", "/subscribedSkus").json()["value"]}
    premium = skus["O365_BUSINESS_PREMIUM"]
    assert premium["prepaidUnits"]["enabled"] == premium["consumedUnits"]
    assert "EXCHANGE_S_STANDARD" in {p["servicePlanName"] for p in premium["servicePlans"]}
    mailbox_plans = {"EXCHANGE_S_STANDARD", "EXCHANGE_S_ENTERPRISE", "EXCHANGE_S_DESKLESS"}
    for free in ("POWER_BI_STANDARD", "FLOW_FREE", "TEAMS_EXPLORATORY", "O365_BUSINESS"):
        plans = {p["servicePlanName"] for p in skus[free]["servicePlans"]}
        assert "EXCHANGE_S_FOUNDATION" in plans and not plans & mailbox_plans, free
        assert skus[free]["prepaidUnits"]["enabled"] - skus[free]["consumedUnits"] >= 25, free
    user_id = new_user(ms).json()["id"]
    refused = license(ms, user_id)
    assert refused.json()["error"]["message"] == (
        f"Subscription with SKU {EXCHANGE_SKU} does not have any available licenses."
    )
    sandbox.control.set_knobs(free_licenses=1)
    assert license(ms, user_id).status_code == 200


def test_mailbox_appears_only_after_the_provisioning_delay(make_sandbox):
    sandbox = make_sandbox(provisioning_delay_s=900)
    ms = MsClient(sandbox.info)
    user_id = new_user(ms).json()["id"]
    assert license(ms, user_id).status_code == 200
    settings = ms.graph("GET", f"/users/{user_id}/mailboxSettings")
    assert settings.status_code == 404
    assert settings.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    exc_type, text = ms.invoke_error("Get-Mailbox", Identity="svc-rooms@contoso.com")
    assert exc_type.endswith("ManagementObjectNotFoundException")
    assert "couldn't be found" in text
    sandbox.control.advance(901)
    assert ms.graph("GET", f"/users/{user_id}/mailboxSettings").json()["userPurpose"] == "user"
    assert ms.invoke("Get-Mailbox", Identity="svc-rooms@contoso.com")[0]["RecipientTypeDetails"] == "UserMailbox"
    mailboxes = ms.invoke("Get-Mailbox", RecipientTypeDetails="UserMailbox")
    assert "svc-rooms@contoso.com" in {m["PrimarySmtpAddress"] for m in mailboxes}


def test_sku_without_exchange_plan_gives_no_mailbox(ms):
    user_id = new_user(ms).json()["id"]
    assert license(ms, user_id, POWER_BI_SKU).status_code == 200
    assert ms.graph("GET", f"/users/{user_id}/mailboxSettings").json()["error"]["code"] == (
        "MailboxNotEnabledForRESTAPI"
    )


def test_replication_lag_hides_a_new_user_for_a_while(make_sandbox):
    sandbox = make_sandbox(replication_lag_s=30)
    ms = MsClient(sandbox.info)
    user_id = new_user(ms).json()["id"]
    assert ms.graph("GET", f"/users/{user_id}").status_code == 404
    assert license(ms, user_id).status_code == 404
    assert new_user(ms).status_code == 400  # the duplicate check sees it already
    sandbox.control.advance(31)
    assert ms.graph("GET", f"/users/{user_id}").status_code == 200


def test_a_new_usage_location_reaches_licensing_after_replication(make_sandbox):
    # A live capture (WIRE.md [I18]): assignLicense right after the usage location was written can still answer
    # "invalid usage location".
    sandbox = make_sandbox(replication_lag_s=30)
    ms = MsClient(sandbox.info)
    user_id = new_user(ms, usage_location=None).json()["id"]
    sandbox.control.advance(31)
    assert ms.graph("PATCH", f"/users/{user_id}", json={"usageLocation": "NL"}).status_code == 204

    refused = license(ms, user_id)

    assert refused.status_code == 400 and "invalid usage location" in refused.json()["error"]["message"]
    sandbox.control.advance(31)
    assert license(ms, user_id).status_code == 200


def test_paging_with_next_link(make_sandbox):
    ms = MsClient(make_sandbox(rooms=250).info)
    first = ms.graph("GET", "/places/microsoft.graph.room").json()
    assert len(first["value"]) == 100 and "@odata.nextLink" in first
    rooms = ms.graph_all("/places/microsoft.graph.room?$top=60")
    assert len(rooms) == 250 and len({r["emailAddress"] for r in rooms}) == 250
    assert rooms[0]["emailAddress"] == "room-001@contoso.onmicrosoft.com"
    assert {"building", "floorNumber", "capacity"} <= rooms[0].keys()
    assert len(ms.graph_all("/users")) == 250 + 3 + 5 + 1


def test_batch_of_twenty_with_per_request_status(sandbox_tenant, ms):
    requests_ = [
        {"id": str(i), "method": "GET", "url": f"/users/room-{i:03d}@contoso.onmicrosoft.com"} for i in range(1, 20)
    ]
    requests_.append({"id": "missing", "method": "GET", "url": "/users/ghost@contoso.com"})
    sandbox_tenant.control.reset_calls()
    body = ms.graph("POST", "/$batch", json={"requests": requests_}).json()
    statuses = {r["id"]: r["status"] for r in body["responses"]}
    assert statuses["missing"] == 404 and all(statuses[str(i)] == 200 for i in range(1, 20))
    calls = sandbox_tenant.control.calls()
    assert calls["writes"] == 0 and calls["calls"]["GET /users/{id}"] == 20
    too_many = ms.graph("POST", "/$batch", json={"requests": requests_ + [requests_[0]]})
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "BadRequest"
    writes = ms.graph(
        "POST",
        "/$batch",
        json={
            "requests": [
                {
                    "id": "1",
                    "method": "PATCH",
                    "url": "/users/user-001@contoso.onmicrosoft.com",
                    "body": {"usageLocation": "DE"},
                    "headers": {"Content-Type": "application/json"},
                }
            ]
        },
    ).json()
    assert writes["responses"][0]["status"] == 204
    assert sandbox_tenant.control.calls()["writes"] == 1


def test_missing_graph_permission_is_authorization_request_denied(sandbox_tenant, ms):
    sandbox_tenant.control.remove_connector_permission("User.ReadWrite.All")
    response = new_user(ms)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Authorization_RequestDenied"
    assert response.json()["error"]["message"] == "Insufficient privileges to complete the operation."


def test_missing_exchange_permission_and_role(sandbox_tenant, ms):
    sandbox_tenant.control.remove_connector_permission("Exchange Administrator")
    refused = ms.invoke_raw("Get-OrganizationConfig")
    # No role is a 401 too, told apart by its message (office-docs-powershell#7970; tests/wire).
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "User is not allowed to call Get-OrganizationConfig"
    sandbox_tenant.control.remove_connector_permission("Exchange.ManageAsApp")
    assert ms.invoke_raw("Get-OrganizationConfig").status_code == 401


def test_places_reflect_exchange_room_lists(sandbox_tenant, ms):
    assert ms.graph("GET", "/places/microsoft.graph.roomlist").json()["value"] == []
    ms.invoke(
        "New-DistributionGroup",
        Name="Rooms HQ",
        Alias="rooms-hq",
        PrimarySmtpAddress="rooms-hq@contoso.com",
        RoomList=True,
    )
    for i in (1, 2, 3):
        ms.invoke(
            "Add-DistributionGroupMember",
            Identity="rooms-hq",
            Member=f"room-00{i}@contoso.onmicrosoft.com",
            BypassSecurityGroupManagerCheck=True,
        )
    lists = ms.graph("GET", "/places/microsoft.graph.roomlist").json()["value"]
    assert [(x["displayName"], x["emailAddress"]) for x in lists] == [("Rooms HQ", "rooms-hq@contoso.com")]
    rooms = ms.graph("GET", "/places/rooms-hq@contoso.com/microsoft.graph.roomlist/rooms").json()["value"]
    assert [r["emailAddress"] for r in rooms] == [f"room-00{i}@contoso.onmicrosoft.com" for i in (1, 2, 3)]


def test_service_principals_show_the_tenant_wide_grant(make_sandbox):
    sandbox = make_sandbox(tenant_wide_calendar_grant=True)
    ms = MsClient(sandbox.info)
    app_id = sandbox.info["integration_app_id"]
    sps = ms.graph("GET", f"/servicePrincipals?$filter=appId eq '{app_id}'").json()["value"]
    assert len(sps) == 1
    grants = ms.graph("GET", f"/servicePrincipals/{sps[0]['id']}/appRoleAssignments").json()["value"]
    assert [g["appRoleId"] for g in grants] == ["ef54d2bf-783f-4e0f-bca1-3210c0444d99"]
    assert grants[0]["resourceDisplayName"] == "Microsoft Graph"
    sandbox.control.set_knobs(tenant_wide_calendar_grant=False)
    assert ms.graph("GET", f"/servicePrincipals/{sps[0]['id']}/appRoleAssignments").json()["value"] == []


def test_calendar_read_only_inside_the_rbac_scope(sandbox_tenant, ms, integration):
    inside = "/users/room-001@contoso.onmicrosoft.com/calendar"
    outside = "/users/room-003@contoso.onmicrosoft.com/calendar"
    assert integration.graph("GET", inside).status_code == 403
    assert ms.graph("GET", inside).status_code == 403  # Onramp's own app has no calendar access
    group = ms.invoke(
        "New-DistributionGroup",
        Name="Rooms",
        Alias="rooms",
        RoomList=True,
        Members=["room-001@contoso.onmicrosoft.com"],
    )[0]
    app_id = sandbox_tenant.info["integration_app_id"]
    ms.invoke("New-ServicePrincipal", AppId=app_id, ObjectId="sp-object-id")
    ms.invoke(
        "New-ManagementScope",
        Name="Rooms scope",
        RecipientRestrictionFilter=f"MemberOfGroup -eq '{group['DistinguishedName']}'",
    )
    ms.invoke(
        "New-ManagementRoleAssignment",
        App=app_id,
        Role="Application Calendars.ReadWrite",
        CustomResourceScope="Rooms scope",
    )
    ok = integration.graph("GET", inside)
    assert ok.status_code == 200 and ok.json()["owner"]["address"] == "room-001@contoso.onmicrosoft.com"
    denied = integration.graph("GET", outside)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ErrorAccessDenied"
    sandbox_tenant.control.set_knobs(tenant_wide_calendar_grant=True)
    assert integration.graph("GET", outside).status_code == 200


def test_rbac_assignment_takes_effect_after_the_cache_delay(make_sandbox):
    sandbox = make_sandbox(rbac_delay_s=3600)
    ms = MsClient(sandbox.info)
    info = sandbox.info
    integration = MsClient(info, info["integration_app_id"], info["integration_client_secret"])
    ms.invoke("New-ServicePrincipal", AppId=info["integration_app_id"], ObjectId="x")
    ms.invoke("New-ManagementRoleAssignment", App=info["integration_app_id"], Role="Application Calendars.Read")
    assert integration.graph("GET", "/users/room-005@contoso.onmicrosoft.com/calendar").status_code == 403
    sandbox.control.advance(3601)
    assert integration.graph("GET", "/users/room-005@contoso.onmicrosoft.com/calendar").status_code == 200
