"""Graph over real HTTPS against the sandbox: JSON, typed errors, paging, $batch."""

import pytest

from wizard.microsoft import connector_clients
from wizard.microsoft.errors import AlreadyExists, BadRequest, NotFound
from wizard.microsoft.graph import BATCH_LIMIT


def calls(sandbox, key):
    return sandbox.control.calls()["calls"].get(key, 0)


def new_user(ms, nick, **extra):
    return ms.graph.post(
        "/users",
        {
            "accountEnabled": True,
            "displayName": nick,
            "mailNickname": nick,
            "userPrincipalName": f"{nick}@contoso.onmicrosoft.com",
            "passwordProfile": {"password": "Xy9!very-long-pass-phrase", "forceChangePasswordNextSignIn": False},
            **extra,
        },
    )


@pytest.mark.django_db
def test_get_all_follows_next_links(sandbox_tenant, tenant, rate):
    sandbox_tenant.control.reset_calls()
    with connector_clients(tenant) as ms:
        rooms = ms.graph.get_all("/places/microsoft.graph.room", {"$top": 7})
    assert len(rooms) == 20
    assert len({room["emailAddress"] for room in rooms}) == 20
    assert calls(sandbox_tenant, "GET /places/microsoft.graph.room") == 3  # 7 + 7 + 6


@pytest.mark.django_db
def test_next_link_to_another_host_is_refused(tenant, rate):
    with connector_clients(tenant) as ms, pytest.raises(ValueError, match="refusing"):
        ms.graph.get("https://attacker.example/v1.0/users")


@pytest.mark.django_db
def test_create_patch_and_typed_errors(sandbox_tenant, tenant, rate):
    with connector_clients(tenant) as ms:
        user = new_user(ms, "svc-onramp")
        assert user["userPrincipalName"] == "svc-onramp@contoso.onmicrosoft.com"
        assert ms.graph.patch(f"/users/{user['id']}", {"usageLocation": "GB"}) == {}  # 204: no body
        assert ms.graph.get(f"/users/{user['id']}", {"$select": "usageLocation"})["usageLocation"] == "GB"

        with pytest.raises(AlreadyExists) as exists:
            new_user(ms, "svc-onramp")
        assert exists.value.code == "Request_BadRequest"
        assert exists.value.status == 400

        with pytest.raises(NotFound) as missing:
            ms.graph.get("/users/nobody@contoso.onmicrosoft.com")
        assert missing.value.code == "Request_ResourceNotFound"
        assert missing.value.request_id  # Microsoft's request id, for support tickets
        assert missing.value.explanation and missing.value.fix


@pytest.mark.django_db
def test_licence_without_usage_location_is_explained(sandbox_tenant, tenant, rate):
    with connector_clients(tenant) as ms:
        user = new_user(ms, "no-location")
        sku = ms.graph.get_all("/subscribedSkus")[0]
        with pytest.raises(BadRequest) as caught:
            ms.graph.post(
                f"/users/{user['id']}/assignLicense",
                {"addLicenses": [{"skuId": sku["skuId"], "disabledPlans": []}], "removeLicenses": []},
            )
    assert "usage location" in caught.value.explanation
    assert "usage location" in caught.value.fix


@pytest.mark.django_db
def test_batch_splits_into_twenties_and_keeps_order(sandbox_tenant, tenant, rate):
    rooms = sandbox_tenant.control.invoke("Get-Mailbox", RecipientTypeDetails="RoomMailbox")
    addresses = [room["PrimarySmtpAddress"] for room in rooms] * 2 + ["ghost@contoso.onmicrosoft.com"] * 5
    assert len(addresses) == 45
    sandbox_tenant.control.reset_calls()
    with connector_clients(tenant) as ms:
        answers = ms.graph.batch([{"method": "GET", "url": f"/users/{a}?$select=userPrincipalName"} for a in addresses])
    assert calls(sandbox_tenant, "POST /$batch") == 3  # ceil(45 / 20)
    assert len(answers) == 45
    for address, answer in zip(addresses[:40], answers[:40], strict=True):
        assert answer.ok and answer.status == 200
        assert answer.result()["userPrincipalName"].lower() == address.lower()
    for answer in answers[40:]:
        assert answer.status == 404
        assert isinstance(answer.error, NotFound)
        with pytest.raises(NotFound):
            answer.result()
    assert BATCH_LIMIT == 20


@pytest.mark.django_db
def test_batch_with_bodies(sandbox_tenant, tenant, rate):
    with connector_clients(tenant) as ms:
        users = [new_user(ms, f"batch-{i}") for i in range(3)]
        answers = ms.graph.batch(
            [{"method": "PATCH", "url": f"/users/{u['id']}", "body": {"usageLocation": "FR"}} for u in users]
        )
        assert [a.status for a in answers] == [204, 204, 204]
        located = {ms.graph.get(f"/users/{u['id']}", {"$select": "usageLocation"})["usageLocation"] for u in users}
        assert located == {"FR"}
