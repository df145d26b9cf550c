"""The exchange_online profile: Microsoft 365 / Exchange Online, steps 0-7 and the optional hand-back. Each step is a
folder beside this module; the profile is the list of them, in order."""

from pathlib import Path

from wizard.steps.exchange_online.activate.step import STEP as ACTIVATE
from wizard.steps.exchange_online.connect.step import STEP as CONNECT
from wizard.steps.exchange_online.org_customization.step import STEP as ORG_CUSTOMIZATION
from wizard.steps.exchange_online.reduce_access.step import STEP as REDUCE_ACCESS
from wizard.steps.exchange_online.room_list.step import STEP as ROOM_LIST
from wizard.steps.exchange_online.rooms.step import STEP as ROOMS
from wizard.steps.exchange_online.scoped_access.step import STEP as SCOPED_ACCESS
from wizard.steps.exchange_online.service_account.step import STEP as SERVICE_ACCOUNT
from wizard.steps.exchange_online.verify.step import STEP as VERIFY
from wizard.steps.registry import register_profile

PROFILE = "exchange_online"

STEPS = (
    CONNECT,
    ORG_CUSTOMIZATION,
    SERVICE_ACCOUNT,
    ROOM_LIST,
    ROOMS,
    SCOPED_ACCESS,
    VERIFY,
    ACTIVATE,
    REDUCE_ACCESS,
)

register_profile(PROFILE, STEPS, folder=Path(__file__).parent)
