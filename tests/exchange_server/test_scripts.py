"""The generated scripts read back as the intended calls, whatever the tenant's names; confirmations bind to the
exact script."""

import pytest

from sandbox.opath import parse_scope_filter
from tenants.models import Profile, Tenant
from wizard.engine import ensure_states
from wizard.errors import StepError
from wizard.models import AuditEvent, StepState
from wizard.outcomes import Done, NeedsInput, StepContext
from wizard.powershell import Command
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS
from wizard.services import exchange_server as service
from wizard.services.exchange_server_scripts import Check, ImportCsvPipeline

from .powershell_grammar import command_arguments, opath_member_of_clauses

HOSTILE_NAME = 'Rooms\'; $(Stop-Computer) `n \u2019-or\u2018 "x"'
HOSTILE_MANAGER = "o'brien@contoso.com"
DNS = ["CN=Rooms' -or MemberOfGroup -ne 'x,OU=Sites,DC=contoso,DC=com", "CN=O\u2019Brien Rooms 02,DC=contoso,DC=com"]

pytestmark = pytest.mark.django_db


def set_step(tenant: Tenant, step_id: str, inputs: dict | None = None, result: dict | None = None) -> None:
    StepState.objects.filter(tenant=tenant, step_id=step_id).update(inputs=inputs or {}, result=result or {})


@pytest.fixture
def tenant() -> Tenant:
    tenant = Tenant.objects.create(slug="onprem", display_name="On premises", profile=Profile.EXCHANGE_SERVER)
    ensure_states(tenant)
    set_step(tenant, "connect", {"service_account_upn": HOSTILE_MANAGER}, {"service_account_upn": HOSTILE_MANAGER})
    set_step(tenant, "room_list", {"name": HOSTILE_NAME, "alias": "rooms", "address": "rooms@contoso.com"})
    rooms = [f"room-{i:03d}@contoso.com" for i in range(1, 2 * ROOM_LIST_MAX_MEMBERS + 11)]
    set_step(tenant, "rooms", {"rooms": rooms})
    return tenant


def assert_reads_back(line) -> None:
    """Each generated line parses, with PowerShell's rules, into exactly the call it stands for."""
    text = line.render()
    if isinstance(line, Command):
        assert command_arguments(text) == (line.cmdlet, line.arguments())
    elif isinstance(line, Check):
        call, _, properties = text.partition(" | Format-List ")
        assert command_arguments(call) == (line.command.cmdlet, line.command.arguments())
        assert properties.replace(",", "").isalnum()
    elif isinstance(line, ImportCsvPipeline):
        source, _, block = text.partition(" | ForEach-Object { ")
        assert command_arguments(source) == ("Import-Csv", {"Path": ".\\" + line.csv_file})
        add, _, rest = block.partition(" -Member $_.ResourceAccounts ")
        assert command_arguments(add) == ("Add-DistributionGroupMember", {"Identity": line.group})
        assert rest == "-BypassSecurityGroupManagerCheck }"
    else:
        assert text.startswith("# ") and "\n" not in text


@pytest.mark.parametrize("step_id", ["connect", "room_list", "rooms", "scoped_access", "verify", "activate"])
def test_every_line_of_every_script_reads_back_as_its_call(tenant, step_id):
    set_step(tenant, "scoped_access", {"room_list_dns": DNS})
    lines = service.script_lines(tenant, step_id)
    assert lines
    for line in lines:
        if not isinstance(line, str):
            assert_reads_back(line)
    assert service.script_text(tenant, step_id).count("\n") == len(lines)


def test_the_room_list_script_names_the_list_and_its_manager_as_literals(tenant):
    calls = [line for line in service.script_lines(tenant, "room_list") if isinstance(line, Command)]
    assert [(c.cmdlet, c.arguments()) for c in calls] == [
        (
            "New-DistributionGroup",
            {"Name": HOSTILE_NAME, "Alias": "rooms", "PrimarySmtpAddress": "rooms@contoso.com", "RoomList": True},
        ),
        (
            "Set-DistributionGroup",
            {"Identity": "rooms@contoso.com", "ManagedBy": HOSTILE_MANAGER, "BypassSecurityGroupManagerCheck": True},
        ),
    ]


def test_rooms_are_split_into_lists_of_75_with_a_csv_each(tenant):
    plan = service.room_plan(tenant)
    assert [len(p.members) for p in plan] == [75, 75, 10]
    assert [p.address for p in plan] == ["rooms@contoso.com", "rooms-02@contoso.com", "rooms-03@contoso.com"]
    lines = service.script_lines(tenant, "rooms")
    created = [line.arguments()["Name"] for line in lines if isinstance(line, Command) and "New-" in line.cmdlet]
    assert created == [f"{HOSTILE_NAME} 02", f"{HOSTILE_NAME} 03"]  # the first list is the room-list step's
    pipelines = [line for line in lines if isinstance(line, ImportCsvPipeline)]
    for planned, pipeline in zip(plan, pipelines, strict=True):
        name, text = service.room_list_csv(tenant, planned.number)
        assert name == pipeline.csv_file == f"{planned.alias}.csv"
        calls = pipeline.commands_for(text)
        assert [c.arguments()["Member"] for c in calls] == list(planned.members)
        assert {c.arguments()["Identity"] for c in calls} == {planned.address}
    with pytest.raises(LookupError):
        service.room_list_csv(tenant, 4)


def test_the_scope_filter_reaches_exchange_as_the_dns_and_nothing_more(tenant):
    set_step(tenant, "rooms", {}, {"room_lists": [{"address": "rooms@contoso.com"}, {"address": "b@contoso.com"}]})
    set_step(tenant, "scoped_access", {"room_list_dns": DNS})
    calls = {c.cmdlet: c for c in service.script_lines(tenant, "scoped_access") if isinstance(c, Command)}
    scope = calls["New-ManagementScope"]
    _, arguments = command_arguments(scope.render())
    # Read with PowerShell's quote rules (which Exchange's filter syntax follows): exactly the two DNs.
    assert opath_member_of_clauses(arguments["RecipientRestrictionFilter"]) == DNS
    # The sandbox's OPATH parser, written separately and knowing ASCII quotes only, also finds exactly two
    # MemberOfGroup clauses: the injected -or stays inside the first DN. To it the doubled typographic quote is
    # literal text, so that group would simply not match: a narrower scope, never a wider one.
    clauses = parse_scope_filter(arguments["RecipientRestrictionFilter"])
    assert clauses == [("memberofgroup", DNS[0]), ("memberofgroup", DNS[1].replace("\u2019", "\u2019\u2019"))]
    assert calls["New-ManagementRoleAssignment"].arguments() == {
        "Name": f"{HOSTILE_NAME} impersonation",
        "Role": "ApplicationImpersonation",
        "User": HOSTILE_MANAGER,
        "CustomRecipientWriteScope": f"{HOSTILE_NAME} scope",
    }


def context(tenant: Tenant, step_id: str) -> StepContext:
    state = StepState.objects.get(tenant=tenant, step_id=step_id)
    return StepContext(tenant=tenant, state=state, actor="test", progress=lambda percent, message: None)


def test_a_confirmation_binds_to_the_exact_script(tenant):
    assert isinstance(service.room_list(context(tenant, "room_list")), NeedsInput)
    with pytest.raises(StepError) as stale:
        service.confirm_manual_step(tenant, "room_list", "admin", "New-DistributionGroup -Name 'other' -RoomList\n")
    assert stale.value.code == "script_changed"
    shown = service.script_text(tenant, "room_list").replace("\n", "\r\n")  # as a browser posts it back
    event = service.confirm_manual_step(tenant, "room_list", "admin", shown)
    assert event.detail["script_sha256"] == service.script_sha256(service.script_text(tenant, "room_list"))
    outcome = service.room_list(context(tenant, "room_list"))
    assert isinstance(outcome, Done) and outcome.result["confirmed_by"] == "admin"

    # Another name means other commands: the earlier confirmation no longer counts.
    set_step(tenant, "room_list", {"name": "Other rooms", "alias": "other", "address": "other@contoso.com"})
    assert isinstance(service.room_list(context(tenant, "room_list")), NeedsInput)
    assert AuditEvent.objects.filter(tenant=tenant, action=service.CONFIRM_ACTION).count() == 1


def test_only_manual_steps_take_a_confirmation(tenant):
    with pytest.raises(StepError) as error:
        service.confirm_manual_step(tenant, "verify", "admin", service.script_text(tenant, "verify"))
    assert error.value.code == "not_a_manual_step"
