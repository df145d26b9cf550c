"""Graph details as Microsoft documents them (issue 25 point 10): the rooms of a room list are read by the list's
email address, not its id (place-list); endsWith on users is an advanced query (ConsistencyLevel: eventual and
$count=true, aad-advanced-queries) and assignedLicenses/any(...) works without them."""

from urllib.parse import quote

import pytest

from tests.sandbox.sandbox_client import MsClient
from tests.wire.conftest import recorded
from wizard.microsoft.errors import BadRequest, graph_error

EXCHANGE_SKU = "f245ecc8-75af-4f8e-b61f-27d8114de5f3"  # the sandbox's seeded licence (WIRE.md, subscribedSkus)
OTHER_SKU = "a403ebcc-fae0-4ca2-8c8c-7a907fd6c235"
ADVANCED = {"ConsistencyLevel": "eventual"}


@pytest.fixture
def ms(sandbox_tenant):
    return MsClient(sandbox_tenant.info)


def _room_list(ms: MsClient) -> dict:
    ms.invoke(
        "New-DistributionGroup",
        Name="Rooms HQ",
        Alias="rooms-hq",
        PrimarySmtpAddress="rooms-hq@contoso.com",
        RoomList=True,
    )
    ms.invoke(
        "Add-DistributionGroupMember",
        Identity="rooms-hq",
        Member="room-001@contoso.onmicrosoft.com",
        BypassSecurityGroupManagerCheck=True,
    )
    return ms.graph("GET", "/places/microsoft.graph.roomlist").json()["value"][0]


def test_rooms_of_a_room_list_are_read_by_its_email_address_not_its_id(ms):
    room_list = _room_list(ms)
    by_address = ms.graph("GET", f"/places/{room_list['emailAddress']}/microsoft.graph.roomlist/rooms")
    assert by_address.status_code == 200
    assert [room["emailAddress"] for room in by_address.json()["value"]] == ["room-001@contoso.onmicrosoft.com"]
    # As the place-list example shows it: places('bldg2%40contoso.com')/microsoft.graph.roomList/rooms.
    assert by_address.json()["@odata.context"].endswith(
        f"#places('{quote(room_list['emailAddress'], safe='')}')/microsoft.graph.roomList/rooms"
    )
    by_id = ms.graph("GET", f"/places/{room_list['id']}/microsoft.graph.roomlist/rooms")
    assert by_id.status_code == 404


def test_ends_with_on_users_needs_the_advanced_query_parameters(ms):
    path = "/users?$filter=endsWith(userPrincipalName,'-001@contoso.onmicrosoft.com')"
    status, body = recorded("graph_endswith_without_advanced_query")
    for refused in (
        ms.graph("GET", path),
        ms.graph("GET", path, headers=ADVANCED),
        ms.graph("GET", path + "&$count=true"),
    ):
        assert refused.status_code == status
        assert refused.json()["error"]["code"] == body["error"]["code"]
        assert refused.json()["error"]["message"] == body["error"]["message"]
    answered = ms.graph("GET", path + "&$count=true", headers=ADVANCED)
    assert answered.status_code == 200, answered.text
    found = {user["userPrincipalName"] for user in answered.json()["value"]}
    assert found and all(upn.endswith("-001@contoso.onmicrosoft.com") for upn in found)
    assert answered.json()["@odata.count"] == len(found)


def test_ends_with_inside_a_batch_takes_the_header_from_the_request(ms):
    url = "/users?$filter=endsWith(mail,'@contoso.onmicrosoft.com')&$count=true"
    batch = {
        "requests": [
            {"id": "1", "method": "GET", "url": url},
            {"id": "2", "method": "GET", "url": url, "headers": ADVANCED},
        ]
    }
    responses = {r["id"]: r for r in ms.graph("POST", "/$batch", json=batch).json()["responses"]}
    assert responses["1"]["status"] == 400 and responses["2"]["status"] == 200


def test_assigned_licences_any_works_without_advanced_parameters(ms):
    licensed = ms.graph("GET", f"/users?$filter=assignedLicenses/any(x:x/skuId eq {EXCHANGE_SKU})")
    assert licensed.status_code == 200, licensed.text
    assert licensed.json()["value"] and "@odata.count" not in licensed.json()
    other = ms.graph("GET", f"/users?$filter=assignedLicenses/any(x:x/skuId eq {OTHER_SKU})")
    assert other.status_code == 200 and other.json()["value"] == []


def test_the_client_reads_the_documented_refusal_as_a_bad_request():
    status, body = recorded("graph_endswith_without_advanced_query")
    error = graph_error(status, body, {})
    assert isinstance(error, BadRequest) and error.code == "Request_UnsupportedQuery"
    assert error.message.startswith("Operator 'endsWith' is not supported")
    assert error.request_id == "b3731da7-5c46-4c37-a8e5-b190124d2531"
