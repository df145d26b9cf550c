"""The Exchange Management Shell commands of the exchange_server profile, generated from the tenant's values.

Onramp cannot reach an on-premises Exchange Management Shell, so for the room list, the rooms and the scoped access
it writes the article's commands for the admin. Each script is a list of `ScriptLine`s: cmdlet calls (`Command`),
creations guarded by a lookup (`IfMissing`), the rooms of a CSV (`AddRoomsFromCsv`), read-only checks and comments.
Every script is safe to run more than once (its first line says so): a `New-…` runs only when the `Get-…` before it
finds nothing, a `Set-…` writes what is already there, and a room already in its list is skipped. Every tenant value
reaches the text through `wizard.powershell` quoting.

The exchange_online profile shows the same cmdlets for admins who prefer to run them (`listed_rooms_script`).

Pure functions of their arguments: the service layer reads the tenant and the earlier steps and calls these.
"""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from wizard.powershell import Command, Expression, command, comment, member_of_group_filter, quote, quote_list
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS, PlannedList
from wizard.rooms_csv import RowStatus

CSV_COLUMN = "ResourceAccounts"
IMPERSONATION_ROLE = "ApplicationImpersonation"
# Exchange refuses a change to a group's owners or members by an admin who is not one of its owners unless this is
# given; the admin running the script is usually not the list's owner (the service account is).
BYPASS = "BypassSecurityGroupManagerCheck"


@dataclass(frozen=True)
class Check:
    """A read-only command whose output the admin looks at: `<command> | Format-List <properties>`."""

    command: Command
    properties: tuple[str, ...]

    def render(self) -> str:
        return f"{self.command.render()} | Format-List {','.join(self.properties)}"


INDENT = "    "
# Recipient types a room list may hold: what the rooms step promises to add, and nothing that widens the scope.
ROOM_TYPES = ("RoomMailbox", "EquipmentMailbox")
# The warning the rooms script writes for a row it leaves out, by the status that row then gets in Onramp.
LEFT_OUT_WARNINGS = {
    RowStatus.UNKNOWN_MAILBOX: "No mailbox has this address, left out: ",
    RowStatus.NOT_A_RESOURCE_MAILBOX: "Not a room or equipment mailbox, left out: ",
}
SAFE_TO_RERUN = comment(
    "Safe to run more than once: it creates only what is missing and leaves what is already right unchanged."
)


@dataclass(frozen=True)
class IfMissing:
    """`if (-not (<probe> -ErrorAction SilentlyContinue)) { <create> } else { <existing> }`: New-… only when the
    object is not there yet, so running the script again changes nothing. The probe's "not found" is silenced
    because it is the expected answer on a first run."""

    probe: Command
    create: tuple["ScriptLine", ...]
    existing: tuple["ScriptLine", ...] = ()

    def render(self) -> str:
        lines = [f"if (-not ({self.probe.render()} -ErrorAction SilentlyContinue)) {{"]
        lines += [INDENT + line for line in render_lines(self.create)]
        if self.existing:
            lines.append("} else {")
            lines += [INDENT + line for line in render_lines(self.existing)]
        lines.append("}")
        return "\n".join(lines)

    def commands(self) -> list[Command]:
        return [self.probe, *(c for c in (*self.create, *self.existing) if isinstance(c, Command))]


@dataclass(frozen=True)
class AddRoomsFromCsv:
    """Each row of a room list's CSV added to the list, unless it is one already; a row whose address has no
    mailbox, or whose mailbox is not a room or equipment mailbox, is left out with a warning naming it.

    Each row's value is passed as an argument, never parsed as code, so the CSV cannot inject anything. Members
    are compared by Guid, so a row naming a room by another of its addresses is still recognised as a member.
    Exchange refuses to add a member twice (MemberAlreadyExistsException), hence the membership test."""

    csv_file: str
    group: str

    def add_command(self) -> Command:
        return command(
            "Add-DistributionGroupMember",
            {"Identity": self.group, "Member": Expression(f"$row.{CSV_COLUMN}"), BYPASS: True},
        )

    def members_command(self) -> Command:
        return command("Get-DistributionGroupMember", {"Identity": self.group, "ResultSize": "Unlimited"})

    def render(self) -> str:
        row = f"$row.{CSV_COLUMN}"
        lookup = command("Get-Recipient", {"Identity": Expression(row)})
        types = ",".join(quote(kind) for kind in ROOM_TYPES)
        path = quote(".\\" + self.csv_file)
        unknown = quote(LEFT_OUT_WARNINGS[RowStatus.UNKNOWN_MAILBOX])
        not_a_room = quote(LEFT_OUT_WARNINGS[RowStatus.NOT_A_RESOURCE_MAILBOX])
        return "\n".join(
            [
                f"$members = {self.members_command().render()}",
                f"foreach ($row in Import-Csv -Path {path}) {{",
                f"{INDENT}$room = {lookup.render()} -ErrorAction SilentlyContinue",
                f"{INDENT}if (-not $room) {{",
                f"{INDENT * 2}Write-Warning ({unknown} + {row})",
                f"{INDENT}}} elseif ({types} -notcontains $room.RecipientTypeDetails) {{",
                f"{INDENT * 2}Write-Warning ({not_a_room} + {row})",
                f"{INDENT}}} elseif ($members.Guid -notcontains $room.Guid) {{",
                f"{INDENT * 2}{self.add_command().render()}",
                f"{INDENT}}}",
                "}",
            ]
        )


@dataclass(frozen=True)
class AddListedRooms:
    """Rooms named in the script added to a list, each unless it is a member already (Exchange refuses to add a
    member twice). For rooms the preview has already checked to be room or equipment mailboxes."""

    group: str
    rooms: tuple[str, ...]

    def members_command(self) -> Command:
        return command("Get-DistributionGroupMember", {"Identity": self.group, "ResultSize": "Unlimited"})

    def add_command(self) -> Command:
        return command(
            "Add-DistributionGroupMember", {"Identity": self.group, "Member": Expression("$room"), BYPASS: True}
        )

    def render(self) -> str:
        return "\n".join(
            [
                f"$members = {self.members_command().render()}",
                f"foreach ($room in {quote_list(self.rooms)}) {{",
                f"{INDENT}if ($members.PrimarySmtpAddress -notcontains $room) {{",
                f"{INDENT * 2}{self.add_command().render()}",
                f"{INDENT}}}",
                "}",
            ]
        )


ScriptLine = (
    Command | IfMissing | AddRoomsFromCsv | AddListedRooms | Check | str
)  # str: a comment line, already made by `comment`


def render_lines(lines: Sequence[ScriptLine]) -> list[str]:
    return [text for line in lines for text in (line if isinstance(line, str) else line.render()).split("\n")]


def render(lines: Sequence[ScriptLine]) -> str:
    return "\n".join(render_lines(lines)) + "\n"


def left_out_in_warnings(text: str) -> list[tuple[RowStatus, str]]:
    """(status, address) of each "left out" warning in the rooms script's output, as the admin pastes it back
    (with or without PowerShell's "WARNING: " prefix); other lines are ignored."""
    found = []
    for line in text.splitlines():
        line = line.strip().removeprefix("WARNING:").strip()
        for status, prefix in LEFT_OUT_WARNINGS.items():
            if line.startswith(prefix) and line[len(prefix) :].strip():
                found.append((status, line[len(prefix) :].strip().lower()))
    return found


def csv_file_name(planned: PlannedList) -> str:
    # Aliases hold only letters, digits, dots, dashes and underscores, so the name is safe as a file name.
    return f"{planned.alias}.csv"


def room_list_csv(members: Sequence[str]) -> str:
    """The CSV of one list's rooms, as the pipeline reads it: a `ResourceAccounts` header and one address a row.

    Addresses come from validated uploads, where a cell starting with = + - @ (a spreadsheet formula) is refused,
    so no cell needs neutralising (which would change the address Exchange receives)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([CSV_COLUMN])
    for address in members:
        if address[:1] in ("=", "+", "-", "@"):
            raise ValueError(f"refusing to write a formula-like cell to a CSV: {address!r}")
        writer.writerow([address])
    return buffer.getvalue()


def _room_list(name: str, alias: str, address: str, manager: str) -> list[ScriptLine]:
    """The list, created only when missing, and the service account as its manager (a Set-… that changes nothing
    when it already is)."""
    return [
        IfMissing(
            command("Get-DistributionGroup", {"Identity": address}),
            (
                command(
                    "New-DistributionGroup",
                    {"Name": name, "Alias": alias, "PrimarySmtpAddress": address, "RoomList": True},
                ),
            ),
        ),
        command("Set-DistributionGroup", {"Identity": address, "ManagedBy": manager, BYPASS: True}),
    ]


def _room_list_check(address: str) -> Check:
    return Check(
        command("Get-DistributionGroup", {"Identity": address}),
        ("Name", "PrimarySmtpAddress", "RecipientTypeDetails", "ManagedBy", "DistinguishedName"),
    )


def room_list_script(name: str, alias: str, address: str, manager: str) -> list[ScriptLine]:
    return [
        SAFE_TO_RERUN,
        comment("Creates the room list and makes the service account its manager."),
        *_room_list(name, alias, address, manager),
        comment("Check: RecipientTypeDetails must read RoomList."),
        _room_list_check(address),
    ]


def rooms_script(plan: Sequence[PlannedList], manager: str) -> list[ScriptLine]:
    """Every list of the plan with its rooms; rooms already in their list are skipped, so the same script serves a
    first run and a retry."""
    lines: list[ScriptLine] = [
        SAFE_TO_RERUN,
        comment(
            f"Adds {sum(len(p.members) for p in plan)} rooms to {len(plan)} room list(s) of at most "
            f"{ROOM_LIST_MAX_MEMBERS}."
        ),
        comment("Download each list's CSV from this page into the folder where you run these commands."),
        comment("A row that is not a room or equipment mailbox is left out, with a warning naming it."),
    ]
    for planned in plan:
        lines.append(comment(f"{planned.name}: {len(planned.members)} rooms from {csv_file_name(planned)}"))
        if planned.number > 1:
            lines += _room_list(planned.name, planned.alias, planned.address, manager)
        lines.append(AddRoomsFromCsv(csv_file_name(planned), planned.address))
    lines.append(comment("Check: each list is a RoomList and holds its rooms."))
    for planned in plan:
        lines.append(_room_list_check(planned.address))
        lines.append(
            Check(
                command("Get-DistributionGroupMember", {"Identity": planned.address, "ResultSize": "Unlimited"}),
                ("PrimarySmtpAddress", "RecipientTypeDetails"),
            )
        )
    return lines


def listed_rooms_script(plan: Sequence[PlannedList], manager: str) -> list[ScriptLine]:
    """The plan's new lists created and its rooms added, each list's rooms named in the script: the same lists of
    at most 75 that Onramp writes when the preview is confirmed."""
    lines: list[ScriptLine] = [
        SAFE_TO_RERUN,
        comment(
            f"Adds {sum(len(p.members_to_add) for p in plan)} rooms to {len(plan)} room list(s) of at most "
            f"{ROOM_LIST_MAX_MEMBERS}, as the preview on this page planned them."
        ),
    ]
    for planned in plan:
        if not planned.members_to_add:
            continue
        lines.append(comment(f"{planned.name}: adds {len(planned.members_to_add)} rooms"))
        if planned.is_new:
            lines += _room_list(planned.name, planned.alias, planned.address, manager)
        lines.append(AddListedRooms(planned.address, planned.members_to_add))
    lines.append(comment("Check: each list holds its rooms."))
    lines += [
        Check(
            command("Get-DistributionGroupMember", {"Identity": planned.address, "ResultSize": "Unlimited"}),
            ("PrimarySmtpAddress", "RecipientTypeDetails"),
        )
        for planned in plan
    ]
    return lines


def distinguished_names_script(list_addresses: Sequence[str]) -> list[ScriptLine]:
    """The first half of scoped access: read each list's DN, which the management scope's filter names."""
    return [
        comment("Only reads: safe to run more than once."),
        comment("Run these, then paste each DistinguishedName into Onramp (one per line)."),
        *(
            Check(command("Get-DistributionGroup", {"Identity": address}), ("Name", "DistinguishedName"))
            for address in list_addresses
        ),
    ]


def scoped_access_script(
    scope_name: str, assignment_name: str, service_account: str, distinguished_names: Sequence[str]
) -> list[ScriptLine]:
    """The management scope over the lists' members and the ApplicationImpersonation assignment limited to it.

    An existing scope gets the filter again (Set-ManagementScope), so a run after adding room lists widens it to
    the new lists; an existing assignment of that name is left as it is."""
    recipient_filter = member_of_group_filter(distinguished_names)
    assignee = {"Role": IMPERSONATION_ROLE, "RoleAssignee": service_account}
    return [
        SAFE_TO_RERUN,
        comment("A management scope matching the members of the room lists, and nobody else."),
        IfMissing(
            command("Get-ManagementScope", {"Identity": scope_name}),
            (command("New-ManagementScope", {"Name": scope_name, "RecipientRestrictionFilter": recipient_filter}),),
            (command("Set-ManagementScope", {"Identity": scope_name, "RecipientRestrictionFilter": recipient_filter}),),
        ),
        comment("Lets the service account impersonate only the mailboxes in that scope."),
        IfMissing(
            command("Get-ManagementRoleAssignment", {"Identity": assignment_name}),
            (
                command(
                    "New-ManagementRoleAssignment",
                    {
                        "Name": assignment_name,
                        "Role": IMPERSONATION_ROLE,
                        "User": service_account,
                        "CustomRecipientWriteScope": scope_name,
                    },
                ),
            ),
        ),
        comment("Check: the scope's filter, and one ApplicationImpersonation assignment with that scope."),
        Check(command("Get-ManagementScope", {"Identity": scope_name}), ("Name", "RecipientFilter")),
        Check(
            command("Get-ManagementRoleAssignment", assignee),
            ("Name", "Role", "RoleAssigneeName", "CustomRecipientWriteScope"),
        ),
    ]


def role_assignment_check(service_account: str) -> list[ScriptLine]:
    return [
        comment("Only reads: safe to run more than once."),
        Check(
            command("Get-ManagementRoleAssignment", {"Role": IMPERSONATION_ROLE, "RoleAssignee": service_account}),
            ("Name", "Role", "RoleAssigneeName", "CustomRecipientWriteScope"),
        ),
    ]


def service_account_script(service_account: str, display_name: str) -> list[ScriptLine]:
    """The mailbox-enabled account the integration signs in as. PowerShell asks for the password (Read-Host
    -AsSecureString): it is typed there, never shown on the page, stored in the script or sent to Onramp."""
    return [
        SAFE_TO_RERUN,
        comment("Creates the service account with a mailbox; PowerShell asks for its password when it runs."),
        comment("Use a long random password; you enter the same one in the Connect step."),
        IfMissing(
            command("Get-Mailbox", {"Identity": service_account}),
            (
                command(
                    "New-Mailbox",
                    {
                        "Name": service_account.partition("@")[0],
                        "DisplayName": display_name,
                        "UserPrincipalName": service_account,
                        "Password": Expression("(Read-Host -AsSecureString -Prompt 'Password of the service account')"),
                    },
                ),
            ),
        ),
        comment("Check: a UserMailbox with this user principal name."),
        Check(
            command("Get-Mailbox", {"Identity": service_account}),
            ("UserPrincipalName", "PrimarySmtpAddress", "RecipientTypeDetails"),
        ),
    ]


def connect_script(service_account: str) -> list[ScriptLine]:
    """What the admin runs to find the EWS URL and to check the service account."""
    return [
        comment("Only reads: safe to run more than once."),
        comment("The EWS URL (ExternalUrl from outside your network) and whether Basic authentication is on."),
        Check(
            command("Get-WebServicesVirtualDirectory", {}),
            ("Server", "InternalUrl", "ExternalUrl", "BasicAuthentication"),
        ),
        comment("The service account (the Service account step creates it) must have a mailbox."),
        Check(command("Get-Mailbox", {"Identity": service_account}), ("UserPrincipalName", "PrimarySmtpAddress")),
    ]
