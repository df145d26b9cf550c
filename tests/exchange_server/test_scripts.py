"""The generated scripts read back as the intended calls, whatever the tenant's names; confirmations bind to the
exact script."""

import pytest

from sandbox.opath import parse_scope_filter
from sandbox.shell import Parser, tokenize
from tenants.models import Profile, Tenant
from wizard import actions
from wizard.engine import ensure_states
from wizard.errors import StepError
from wizard.models import AuditEvent, StepState
from wizard.outcomes import Done, NeedsInput, StepContext
from wizard.powershell import Command, Expression, quote
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS, plan_room_lists
from wizard.rooms_csv import RowStatus
from wizard.services.exchange_server_scripts import (
    SAFE_TO_RERUN,
    AddListedRooms,
    AddRoomsFromCsv,
    Check,
    IfMissing,
    left_out_in_warnings,
    listed_rooms_script,
    render,
)
from wizard.steps import manual
from wizard.steps.exchange_server import common as service
from wizard.steps.exchange_server.room_list import service as room_list_step
from wizard.steps.exchange_server.service_account import service as service_account_step
from wizard.steps.registry import steps_for

from .conftest import ADMIN, confirm, shown_digest, shown_script
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


def assert_command_reads_back(line: Command) -> None:
    """The literal parameters read back exactly; Onramp's own expressions (never tenant data) stand as written."""
    literal = Command(line.cmdlet, tuple((n, v) for n, v in line.parameters if not isinstance(v, Expression)))
    assert command_arguments(literal.render()) == (line.cmdlet, literal.arguments())
    for name, value in line.parameters:
        if isinstance(value, Expression):
            assert f" -{name} {value.code}" in line.render()


def assert_reads_back(line) -> None:
    """Each generated line parses, with PowerShell's rules, into exactly the call it stands for."""
    if isinstance(line, str):
        assert line.startswith("# ") and "\n" not in line
        return
    text = line.render()
    if isinstance(line, Command):
        assert_command_reads_back(line)
    elif isinstance(line, Check):
        call, _, properties = text.partition(" | Format-List ")
        assert command_arguments(call) == (line.command.cmdlet, line.command.arguments())
        assert properties.replace(",", "").isalnum()
    elif isinstance(line, IfMissing):
        probe, _, rest = text.partition("\n")
        assert probe == f"if (-not ({line.probe.render()} -ErrorAction SilentlyContinue)) {{"
        assert_command_reads_back(line.probe)
        for inner in (*line.create, *line.existing):
            assert_reads_back(inner)
            assert f"\n    {inner.render()}\n" in f"\n{rest}"
    elif isinstance(line, AddRoomsFromCsv):
        members, _, rest = text.partition("\n")
        assert members == f"$members = {line.members_command().render()}"
        assert_command_reads_back(line.members_command())
        add = line.add_command().render()
        call, _, tail = add.partition(" -Member $row.ResourceAccounts ")
        assert command_arguments(call) == ("Add-DistributionGroupMember", {"Identity": line.group})
        assert tail == "-BypassSecurityGroupManagerCheck" and f"        {add}\n" in rest
        assert f"Import-Csv -Path '.\\{line.csv_file}')" in rest
    elif isinstance(line, AddListedRooms):
        members, foreach, rest = text.split("\n", 2)
        assert members == f"$members = {line.members_command().render()}"
        assert_command_reads_back(line.members_command())
        assert_command_reads_back(line.add_command())
        assert f"        {line.add_command().render()}\n" in rest
        assert foreach == f"foreach ($room in {','.join(quote(room) for room in line.rooms)}) {{"
    else:
        raise AssertionError(f"unknown script line {line!r}")


SCRIPTS = {
    "service_account": service.service_account_script,
    "connect": service.connect_script,
    "room_list": service.room_list_script,
    "rooms": service.rooms_script,
    "scoped_access": service.scoped_access_script,
    "verify": service.role_assignment_script,
    "activate": service.role_assignment_script,
}


@pytest.mark.parametrize("step_id", SCRIPTS)
def test_every_line_of_every_script_reads_back_as_its_call(tenant, step_id):
    set_step(tenant, "scoped_access", {"room_list_dns": DNS})
    lines = SCRIPTS[step_id](tenant)
    assert lines
    for line in lines:
        assert_reads_back(line)


@pytest.mark.parametrize("step_id", SCRIPTS)
def test_every_script_says_it_is_safe_to_run_twice_and_parses_as_a_whole(tenant, step_id):
    assert [step.id for step in steps_for(Profile.EXCHANGE_SERVER)] == list(SCRIPTS)
    for dns in ([], DNS):  # scoped access shows the DN lookup first, then the scope and the assignment
        set_step(tenant, "scoped_access", {"room_list_dns": dns})
        text = shown_script(tenant, step_id)
        assert text == render(SCRIPTS[step_id](tenant))
        first = text.splitlines()[0]
        writes = any(verb in text for verb in ("New-", "Set-", "Add-"))
        assert first == (SAFE_TO_RERUN if writes else "# Only reads: safe to run more than once.")
        assert Parser(tokenize(text)).script()  # within the shell subset the sandbox runs (and PowerShell parses)


def test_the_room_list_script_names_the_list_and_its_manager_as_literals(tenant):
    lines = service.room_list_script(tenant)
    calls = [c for line in lines for c in (line.create if isinstance(line, IfMissing) else [line])]
    calls = [c for c in calls if isinstance(c, Command)]
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
    lines = service.rooms_script(tenant)
    created = [
        inner.arguments()["Name"]
        for line in lines
        if isinstance(line, IfMissing)
        for inner in line.create
        if inner.cmdlet == "New-DistributionGroup"
    ]
    assert created == [f"{HOSTILE_NAME} 02", f"{HOSTILE_NAME} 03"]  # the first list is the room-list step's
    additions = [line for line in lines if isinstance(line, AddRoomsFromCsv)]
    for planned, addition in zip(plan, additions, strict=True):
        name, text = service.room_list_csv(tenant, planned.number)
        assert name == addition.csv_file == f"{planned.alias}.csv"
        assert addition.group == planned.address
        assert text.splitlines()[1:] == list(planned.members)
    with pytest.raises(LookupError):
        service.room_list_csv(tenant, 4)


def test_the_scope_filter_reaches_exchange_as_the_dns_and_nothing_more(tenant):
    set_step(tenant, "rooms", {}, {"room_lists": [{"address": "rooms@contoso.com"}, {"address": "b@contoso.com"}]})
    set_step(tenant, "scoped_access", {"room_list_dns": DNS})
    lines = service.scoped_access_script(tenant)
    calls = {c.cmdlet: c for line in lines if isinstance(line, IfMissing) for c in (*line.create, *line.existing)}
    scope = calls["New-ManagementScope"]
    assert (
        calls["Set-ManagementScope"].arguments()["RecipientRestrictionFilter"]
        == scope.arguments()["RecipientRestrictionFilter"]
    )
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
    assert isinstance(room_list_step.perform(context(tenant, "room_list")), NeedsInput)
    with pytest.raises(StepError) as stale:
        confirm(tenant, "room_list", "New-DistributionGroup -Name 'other' -RoomList\n")
    assert stale.value.code == "script_changed"
    shown = shown_script(tenant, "room_list").replace("\n", "\r\n")  # as a browser posts it back
    event = confirm(tenant, "room_list", shown)
    assert event.detail["script_sha256"] == manual.script_sha256(shown_script(tenant, "room_list"))
    outcome = room_list_step.perform(context(tenant, "room_list"))
    assert isinstance(outcome, Done) and outcome.result["confirmed_by"] == ADMIN

    # Another name means other commands: the earlier confirmation no longer counts.
    set_step(tenant, "room_list", {"name": "Other rooms", "alias": "other", "address": "other@contoso.com"})
    assert isinstance(room_list_step.perform(context(tenant, "room_list")), NeedsInput)
    assert AuditEvent.objects.filter(tenant=tenant, action=manual.CONFIRM_ACTION).count() == 1


def test_only_manual_steps_take_a_confirmation(tenant):
    with pytest.raises(StepError) as error:
        actions.confirm_step(tenant, "verify", ADMIN, digest=manual.script_sha256(shown_script(tenant, "verify")))
    assert error.value.code == "not_a_manual_step"
    assert not AuditEvent.objects.filter(tenant=tenant, action=manual.CONFIRM_ACTION).exists()


def test_a_confirmation_may_name_the_script_by_its_digest(tenant):
    digest = shown_digest(tenant, "room_list")
    assert digest == manual.script_sha256(shown_script(tenant, "room_list"))
    with pytest.raises(StepError) as stale:
        confirm(tenant, "room_list", digest="0" * 64)
    assert stale.value.code == "script_changed" and stale.value.extra["current_script_sha256"] == digest
    with pytest.raises(ValueError):
        confirm(tenant, "room_list", shown_script(tenant, "room_list"), digest=digest)
    event = confirm(tenant, "room_list", digest=digest.upper())
    assert event.detail == {"script_sha256": digest}
    assert isinstance(room_list_step.perform(context(tenant, "room_list")), Done)


def test_the_service_account_script_asks_powershell_for_the_password(tenant):
    set_step(tenant, "service_account", {"service_account_upn": "svc@contoso.com", "display_name": "Rooms"})
    lines = service.service_account_script(tenant)
    guarded = next(line for line in lines if isinstance(line, IfMissing))
    assert guarded.probe.arguments() == {"Identity": "svc@contoso.com"}
    assert guarded.create[0].render() == (
        "New-Mailbox -Name 'svc' -DisplayName 'Rooms' -UserPrincipalName 'svc@contoso.com'"
        " -Password (Read-Host -AsSecureString -Prompt 'Password of the service account')"
    )
    outcome = service_account_step.perform(context(tenant, "service_account"))
    assert isinstance(outcome, NeedsInput)


def test_left_out_warnings_are_read_back_from_the_shell_output():
    output = """WARNING: Not a room or equipment mailbox, left out: Bob@Contoso.com
    No mailbox has this address, left out: ghost@contoso.com
    WARNING: The command completed successfully but no settings of 'Rooms' have been modified.
    No mailbox has this address, left out:"""
    assert left_out_in_warnings(output) == [
        (RowStatus.NOT_A_RESOURCE_MAILBOX, "bob@contoso.com"),
        (RowStatus.UNKNOWN_MAILBOX, "ghost@contoso.com"),
    ]


def test_a_room_exchange_refused_leaves_the_plan_even_when_an_earlier_run_placed_it(tenant):
    rooms = ["room-001@contoso.com", "room-002@contoso.com", "room-003@contoso.com"]
    refused = [{"address": "room-002@contoso.com", "status": "unknown_mailbox", "reason": "Unknown mailbox"}]
    placed = {"room_lists": [{"name": HOSTILE_NAME, "address": "rooms@contoso.com", "members": rooms}]}
    set_step(tenant, "rooms", {"rooms": [rooms[0], rooms[2]], "refused_rows": refused}, placed)
    assert [list(p.members) for p in service.room_plan(tenant)] == [[rooms[0], rooms[2]]]
    assert "room-002" not in service.room_list_csv(tenant, 1)[1]


def test_the_exchange_online_rooms_script_follows_the_plan_of_75_with_every_value_a_literal():
    rooms = [f"room-{i:03d}@contoso.com" for i in range(1, 161)]
    plan = plan_room_lists(HOSTILE_NAME, "rooms", "contoso.com", rooms, {HOSTILE_NAME: set()})
    lines = listed_rooms_script(plan, HOSTILE_MANAGER)

    for line in lines:
        assert_reads_back(line)
    assert Parser(tokenize(render(lines))).script()
    assert lines[0] == SAFE_TO_RERUN
    added = [(line.group, len(line.rooms)) for line in lines if isinstance(line, AddListedRooms)]
    assert added == [("rooms@contoso.com", 75), ("rooms-02@contoso.com", 75), ("rooms-03@contoso.com", 10)]
    created = [line.create[0].arguments()["Name"] for line in lines if isinstance(line, IfMissing)]
    assert created == [f"{HOSTILE_NAME} 02", f"{HOSTILE_NAME} 03"]
