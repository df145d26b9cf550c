"""The exchange_server profile: Exchange Server 2016, 2019 and Subscription Edition.

Step ids match exchange_online's where the steps mean the same. Onramp connects over EWS; the room list, rooms and
scoped access are PowerShell the admin runs in the Exchange Management Shell and confirms (`manual=True`); verify
proves the result over EWS with ApplicationImpersonation; activate hands over and erases the password. Each step is
a folder beside this module; the profile is the list of them, in order.
"""

from pathlib import Path

from wizard.steps.exchange_server.activate.step import STEP as ACTIVATE
from wizard.steps.exchange_server.common import PROFILE
from wizard.steps.exchange_server.connect.step import STEP as CONNECT
from wizard.steps.exchange_server.room_list.step import STEP as ROOM_LIST
from wizard.steps.exchange_server.rooms.step import STEP as ROOMS
from wizard.steps.exchange_server.scoped_access.step import STEP as SCOPED_ACCESS
from wizard.steps.exchange_server.service_account.step import STEP as SERVICE_ACCOUNT
from wizard.steps.exchange_server.verify.step import STEP as VERIFY
from wizard.steps.registry import register_profile

STEPS = (
    SERVICE_ACCOUNT,
    CONNECT,
    ROOM_LIST,
    ROOMS,
    SCOPED_ACCESS,
    VERIFY,
    ACTIVATE,
)

register_profile(PROFILE, STEPS, folder=Path(__file__).parent)
