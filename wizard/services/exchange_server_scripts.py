"""The Exchange Management Shell commands of the exchange_server profile, generated from the tenant's values.

Onramp cannot reach an on-premises Exchange Management Shell, so for the room list, the rooms and the scoped access
it writes the article's commands for the admin. Each script is a list of `ScriptLine`s: cmdlet calls (`Command`),
`Import-Csv` pipelines, read-only checks and comments. The same lines render the text the admin copies and, as data,
the calls an Exchange shell would make (tests apply them to the sandbox). Every tenant value reaches the text through
`wizard.powershell` quoting.

Pure functions of their arguments: the service layer reads the tenant and the earlier steps and calls these.
"""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from wizard.powershell import Command, Expression, command, comment, member_of_group_filter, quote
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS, PlannedList

CSV_COLUMN = "ResourceAccounts"
IMPERSONATION_ROLE = "ApplicationImpersonation"
# Exchange refuses a change to a group's owners or members by an admin who is not one of its owners unless this is
# given; the admin running the script is usually not the list's owner (the service account is).
_BYPASS = "BypassSecurityGroupManagerCheck"


@dataclass(frozen=True)
class Check:
    """A read-only command whose output the admin looks at: `<command> | Format-List <properties>`."""

    command: Command
    properties: tuple[str, ...]

    def render(self) -> str:
        return f"{self.command.render()} | Format-List {','.join(self.properties)}"


@dataclass(frozen=True)
class ImportCsvPipeline:
    """`Import-Csv <file> | ForEach-Object { Add-DistributionGroupMember -Identity <list> -Member $_.<column> }`.

    Each row's value is passed as an argument, never parsed as code, so the CSV cannot inject anything."""

    csv_file: str
    group: str

    def render(self) -> str:
        add = command(
            "Add-DistributionGroupMember",
            {"Identity": self.group, "Member": Expression(f"$_.{CSV_COLUMN}"), _BYPASS: True},
        )
        path = quote(".\\" + self.csv_file)
        return f"Import-Csv -Path {path} | ForEach-Object {{ {add.render()} }}"

    def commands_for(self, csv_text: str) -> list[Command]:
        """The calls the pipeline makes for the rows of `csv_text`: one Add-DistributionGroupMember per row."""
        return [
            command("Add-DistributionGroupMember", {"Identity": self.group, "Member": row[CSV_COLUMN], _BYPASS: True})
            for row in csv.DictReader(io.StringIO(csv_text))
        ]


ScriptLine = Command | ImportCsvPipeline | Check | str  # str: a comment line, already made by `comment`


def render(lines: Sequence[ScriptLine]) -> str:
    return "\n".join(line if isinstance(line, str) else line.render() for line in lines) + "\n"


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


def _new_room_list(name: str, alias: str, address: str, manager: str) -> list[ScriptLine]:
    return [
        command(
            "New-DistributionGroup", {"Name": name, "Alias": alias, "PrimarySmtpAddress": address, "RoomList": True}
        ),
        command("Set-DistributionGroup", {"Identity": address, "ManagedBy": manager, _BYPASS: True}),
    ]


def _room_list_check(address: str) -> Check:
    return Check(
        command("Get-DistributionGroup", {"Identity": address}),
        ("Name", "PrimarySmtpAddress", "RecipientTypeDetails", "ManagedBy", "DistinguishedName"),
    )


def room_list_script(name: str, alias: str, address: str, manager: str) -> list[ScriptLine]:
    return [
        comment("Creates the room list and makes the service account its manager."),
        *_new_room_list(name, alias, address, manager),
        comment("Check: RecipientTypeDetails must read RoomList."),
        _room_list_check(address),
    ]


def rooms_script(plan: Sequence[PlannedList], manager: str) -> list[ScriptLine]:
    """Every list of the plan with all its rooms: running it again adds nothing new (Exchange answers "already a
    member" for rooms that are there), so the same script serves a first run and a retry."""
    lines: list[ScriptLine] = [
        comment(
            f"Adds {sum(len(p.members) for p in plan)} rooms to {len(plan)} room list(s) of at most "
            f"{ROOM_LIST_MAX_MEMBERS}."
        ),
        comment("Download each list's CSV from this page into the folder where you run these commands."),
        comment("An error “is already a member of the group” for a room is harmless: it is in the list already."),
    ]
    for planned in plan:
        lines.append(comment(f"{planned.name}: {len(planned.members)} rooms from {csv_file_name(planned)}"))
        if planned.number > 1:
            lines += _new_room_list(planned.name, planned.alias, planned.address, manager)
        lines.append(ImportCsvPipeline(csv_file_name(planned), planned.address))
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


def distinguished_names_script(list_addresses: Sequence[str]) -> list[ScriptLine]:
    """The first half of scoped access: read each list's DN, which the management scope's filter names."""
    return [
        comment("Run these, then paste each DistinguishedName into Onramp (one per line)."),
        *(
            Check(command("Get-DistributionGroup", {"Identity": address}), ("Name", "DistinguishedName"))
            for address in list_addresses
        ),
    ]


def scoped_access_script(
    scope_name: str, assignment_name: str, service_account: str, distinguished_names: Sequence[str]
) -> list[ScriptLine]:
    """The management scope over the lists' members and the ApplicationImpersonation assignment limited to it."""
    recipient_filter = member_of_group_filter(distinguished_names)
    assignee = {"Role": IMPERSONATION_ROLE, "RoleAssignee": service_account}
    return [
        comment("A management scope matching the members of the room lists, and nobody else."),
        command("New-ManagementScope", {"Name": scope_name, "RecipientRestrictionFilter": recipient_filter}),
        comment("Lets the service account impersonate only the mailboxes in that scope."),
        command(
            "New-ManagementRoleAssignment",
            {
                "Name": assignment_name,
                "Role": IMPERSONATION_ROLE,
                "User": service_account,
                "CustomRecipientWriteScope": scope_name,
            },
        ),
        comment(
            f"Running this again after adding room lists? Use Set-ManagementScope -Identity {quote(scope_name)}"
            " -RecipientRestrictionFilter with the filter above instead of New-ManagementScope."
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
        Check(
            command("Get-ManagementRoleAssignment", {"Role": IMPERSONATION_ROLE, "RoleAssignee": service_account}),
            ("Name", "Role", "RoleAssigneeName", "CustomRecipientWriteScope"),
        )
    ]


def connect_script(service_account: str) -> list[ScriptLine]:
    """What the admin runs to find the EWS URL and to check (or create) the service account."""
    return [
        comment("The EWS URL (ExternalUrl from outside your network) and whether Basic authentication is on."),
        Check(
            command("Get-WebServicesVirtualDirectory", {}),
            ("Server", "InternalUrl", "ExternalUrl", "BasicAuthentication", "OAuthAuthentication"),
        ),
        comment("The service account must have a mailbox. Create it if needed with:"),
        comment(
            f"New-Mailbox -Name 'Room booking service' -UserPrincipalName {quote(service_account)} "
            "-Password (Read-Host -AsSecureString)"
        ),
        Check(command("Get-Mailbox", {"Identity": service_account}), ("UserPrincipalName", "PrimarySmtpAddress")),
    ]
