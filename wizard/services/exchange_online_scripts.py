"""The Exchange Online PowerShell of an organisation whose admin makes the Exchange changes (Tenant.exchange_writes),
generated from the same plan the automated steps apply.

Each script signs in with `Connect-ExchangeOnline`, then runs only commands that are safe to run twice: every
`New-…` is guarded by the `Get-…` before it (`IfMissing`), a `Set-…` writes what is already there, a room already in
its list is skipped, and customisation is enabled only while the organisation is dehydrated. The lines are those of
`exchange_server_scripts` (the same cmdlets, the same quoting through `wizard.powershell`) plus the few Exchange
Online needs: the connection, the condition on IsDehydrated, and the scope's filter read from each list's
distinguished name.

Pure functions of their arguments: the steps read the tenant and call these."""

from collections.abc import Sequence
from dataclasses import dataclass

from wizard.powershell import Expression, command, comment, quote, quote_list
from wizard.room_plan import ROOM_LIST_MAX_MEMBERS, PlannedList
from wizard.rooms_csv import RowStatus
from wizard.services import exchange_server_scripts as server_scripts
from wizard.services.exchange_server_scripts import (
    BYPASS,
    INDENT,
    LEFT_OUT_WARNINGS,
    ROOM_TYPES,
    SAFE_TO_RERUN,
    Check,
    IfMissing,
    ScriptLine,
    render_lines,
)


@dataclass(frozen=True)
class When:
    """`if (<condition>) { <then> }`; the condition is code Onramp writes, never tenant data."""

    condition: Expression
    then: tuple[ScriptLine, ...]

    def render(self) -> str:
        lines = [f"if ({self.condition.code}) {{"]
        lines += [INDENT + line for line in render_lines(self.then)]
        lines.append("}")
        return "\n".join(lines)


@dataclass(frozen=True)
class AddListedResources:
    """Rooms named in the script added to a list, each only when it is a room or equipment mailbox and not a member
    yet (Exchange refuses to add a member twice); anything else is left out with a warning naming it. Members are
    compared by Guid, so a room named by another of its addresses is still recognised."""

    group: str
    rooms: tuple[str, ...]

    def render(self) -> str:
        members = command("Get-DistributionGroupMember", {"Identity": self.group, "ResultSize": "Unlimited"})
        lookup = command("Get-Recipient", {"Identity": Expression("$room")})
        add = command(
            "Add-DistributionGroupMember", {"Identity": self.group, "Member": Expression("$room"), BYPASS: True}
        )
        types = ",".join(quote(kind) for kind in ROOM_TYPES)
        unknown = quote(LEFT_OUT_WARNINGS[RowStatus.UNKNOWN_MAILBOX])
        not_a_room = quote(LEFT_OUT_WARNINGS[RowStatus.NOT_A_RESOURCE_MAILBOX])
        return "\n".join(
            [
                f"$members = {members.render()}",
                f"foreach ($room in {quote_list(self.rooms)}) {{",
                f"{INDENT}$mailbox = {lookup.render()} -ErrorAction SilentlyContinue",
                f"{INDENT}if (-not $mailbox) {{",
                f"{INDENT * 2}Write-Warning ({unknown} + $room)",
                f"{INDENT}}} elseif ({types} -notcontains $mailbox.RecipientTypeDetails) {{",
                f"{INDENT * 2}Write-Warning ({not_a_room} + $room)",
                f"{INDENT}}} elseif ($members.Guid -notcontains $mailbox.Guid) {{",
                f"{INDENT * 2}{add.render()}",
                f"{INDENT}}}",
                "}",
            ]
        )


@dataclass(frozen=True)
class MemberOfListsFilter:
    """`$filter = 'MemberOfGroup -eq ''<DN>''' -or …`, each DN read from its list with Get-DistributionGroup: the
    same filter the automated step writes (wizard.powershell.member_of_group_filter), without Onramp reading the
    DNs through InvokeCommand. A DN holding a single quote would end the filter's string (Exchange builds a list's
    DN from its name): the scoped-access step offers no commands for such a list name."""

    variable: str
    list_addresses: tuple[str, ...]

    def render(self) -> str:
        clauses = [
            f"'MemberOfGroup -eq ''' + (Get-DistributionGroup -Identity {quote(address)}).DistinguishedName + ''''"
            for address in self.list_addresses
        ]
        return f"${self.variable} = " + " + ' -or ' + ".join(clauses)


OnlineScriptLine = ScriptLine | When | AddListedResources | MemberOfListsFilter


def connection(organization: str) -> list[OnlineScriptLine]:
    return [
        comment("Signs in to Exchange Online: sign in as an Exchange administrator of this organisation."),
        command("Connect-ExchangeOnline", {"Organization": organization}),
    ]


def org_customization_script(organization: str) -> list[OnlineScriptLine]:
    return [
        SAFE_TO_RERUN,
        *connection(organization),
        comment("Enables organisation customisation only while Exchange reports the organisation dehydrated."),
        When(Expression("(Get-OrganizationConfig).IsDehydrated"), (command("Enable-OrganizationCustomization", {}),)),
        comment("Check: IsDehydrated must read False; it can take a few minutes after enabling."),
        Check(
            command("Get-OrganizationConfig", {"RetrieveEwsOperationAccessPolicy": True}),
            ("IsDehydrated", "EwsEnabled", "EwsAllowedAppIDs"),
        ),
    ]


def room_list_script(organization: str, name: str, alias: str, address: str, manager: str) -> list[OnlineScriptLine]:
    lines = server_scripts.room_list_script(name, alias, address, manager)
    return [SAFE_TO_RERUN, *connection(organization), *(line for line in lines if line != SAFE_TO_RERUN)]


def rooms_script(organization: str, plan: Sequence[PlannedList], manager: str) -> list[OnlineScriptLine]:
    """The plan's new lists created and its rooms added: the same lists of at most 75 the automated step writes."""
    lines: list[OnlineScriptLine] = [
        SAFE_TO_RERUN,
        *connection(organization),
        comment(
            f"Adds {sum(len(p.members_to_add) for p in plan)} rooms to {len(plan)} room list(s) of at most "
            f"{ROOM_LIST_MAX_MEMBERS}; an address that is not a room or equipment mailbox is left out with a warning."
        ),
    ]
    for planned in plan:
        if not planned.members_to_add:
            continue
        lines.append(comment(f"{planned.name}: {len(planned.members_to_add)} rooms"))
        if planned.is_new:
            lines += [
                IfMissing(
                    command("Get-DistributionGroup", {"Identity": planned.address}),
                    (
                        command(
                            "New-DistributionGroup",
                            {
                                "Name": planned.name,
                                "Alias": planned.alias,
                                "PrimarySmtpAddress": planned.address,
                                "RoomList": True,
                            },
                        ),
                    ),
                ),
                command("Set-DistributionGroup", {"Identity": planned.address, "ManagedBy": manager, BYPASS: True}),
            ]
        lines.append(AddListedResources(planned.address, planned.members_to_add))
    lines.append(comment("Check: each list holds its rooms."))
    lines += [
        Check(
            command("Get-DistributionGroupMember", {"Identity": planned.address, "ResultSize": "Unlimited"}),
            ("PrimarySmtpAddress", "RecipientTypeDetails"),
        )
        for planned in plan
    ]
    return lines


def scoped_access_script(
    organization: str,
    *,
    app_id: str,
    service_principal_object_id: str,
    app_name: str,
    scope_name: str,
    assignment_name: str,
    role: str,
    list_addresses: Sequence[str],
) -> list[OnlineScriptLine]:
    """RBAC for Applications: the app's Exchange service principal, one management scope over the members of every
    room list, and one role assignment of `role` limited to that scope (as the automated step writes them). An
    existing scope gets the filter again, so a run after adding lists widens it to the new ones."""
    scope_filter = Expression("$filter")
    return [
        SAFE_TO_RERUN,
        *connection(organization),
        comment("The integration's app as Exchange knows it (its enterprise application in Entra ID)."),
        IfMissing(
            command("Get-ServicePrincipal", {"Identity": app_id}),
            (
                command(
                    "New-ServicePrincipal",
                    {"AppId": app_id, "ObjectId": service_principal_object_id, "DisplayName": app_name},
                ),
            ),
        ),
        comment("A management scope matching the members of the room lists, and nobody else."),
        MemberOfListsFilter("filter", tuple(list_addresses)),
        IfMissing(
            command("Get-ManagementScope", {"Identity": scope_name}),
            (command("New-ManagementScope", {"Name": scope_name, "RecipientRestrictionFilter": scope_filter}),),
            (command("Set-ManagementScope", {"Identity": scope_name, "RecipientRestrictionFilter": scope_filter}),),
        ),
        comment(f"Lets the app use {role} only on the mailboxes in that scope."),
        IfMissing(
            command("Get-ManagementRoleAssignment", {"Identity": assignment_name}),
            (
                command(
                    "New-ManagementRoleAssignment",
                    {"Name": assignment_name, "App": app_id, "Role": role, "CustomResourceScope": scope_name},
                ),
            ),
        ),
        comment("Check: the scope's filter names every room list; the assignment uses the scope."),
        Check(command("Get-ManagementScope", {"Identity": scope_name}), ("Name", "RecipientFilter")),
        Check(
            command("Get-ManagementRoleAssignment", {"Identity": assignment_name}),
            ("Name", "Role", "App", "CustomResourceScope"),
        ),
    ]
