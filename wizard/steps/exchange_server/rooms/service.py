"""What Onramp does for the rooms step of Exchange Server."""

from django.db import transaction
from django.utils.translation import gettext_noop

from wizard.models import MembershipStatus, Room
from wizard.outcomes import Done, NeedsInput, Outcome, StepContext
from wizard.results import RoomListEntry
from wizard.services.common import required_result
from wizard.steps.exchange_server.common import left_out_rows, room_plan, rooms_script
from wizard.steps.exchange_server.room_list.result import ExchangeServerRoomListResult
from wizard.steps.exchange_server.rooms.result import ExchangeServerRoomsResult
from wizard.steps.manual import confirmation_recorded


def perform(ctx: StepContext) -> Outcome:
    tenant = ctx.tenant
    required_result(tenant, ExchangeServerRoomListResult, "address", "Room list")
    plan = room_plan(tenant)
    if not plan:
        return NeedsInput(gettext_noop("Upload the CSV of the rooms the integration may book."))
    confirmed = confirmation_recorded(ctx, rooms_script)
    if isinstance(confirmed, NeedsInput):
        return confirmed
    planned_addresses = {address.lower() for p in plan for address in p.members}
    left_out = left_out_rows(tenant)
    with transaction.atomic():
        for planned in plan:
            for address in planned.members:
                Room.objects.update_or_create(
                    tenant=tenant,
                    address=address.lower(),
                    defaults={"room_list": planned.name, "membership_status": MembershipStatus.MEMBER, "reason": ""},
                )
        # A row left out of the plan (refused by the upload's checks, or taken out by the admin with Exchange's
        # warning) is not a room of the integration: the page lists it under the rows left out, with its reason,
        # and the rooms and verify tables do not count it as failed or pending, even if an earlier run placed it.
        left_out_addresses = {str(row.get("address") or "").lower() for row in left_out} - {""}
        Room.objects.filter(tenant=tenant, address__in=left_out_addresses - planned_addresses).delete()
    result = ExchangeServerRoomsResult(
        lists=tuple(RoomListEntry.of(p.name, p.address, p.members, alias=p.alias, number=p.number) for p in plan),
        rooms=len(planned_addresses),
        left_out=len(left_out),
    )
    return Done({**result.to_json(), **confirmed})
