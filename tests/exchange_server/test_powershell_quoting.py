"""Adversarial names through wizard.powershell, read back with PowerShell's own string rules."""

import pytest

from wizard.powershell import (
    Expression,
    UnsafeValue,
    command,
    comment,
    member_of_group_filter,
    opath_string,
    quote,
    quote_list,
)

from .powershell_grammar import ParseError, command_arguments, opath_member_of_clauses, read_single_quoted

ADVERSARIAL = [
    "O'Brien Room",
    "Room ''",
    "'",
    "''''",
    "Room '; Remove-Mailbox -Identity * -Confirm:$false; '",
    "$env:USERNAME",
    "$(Remove-Item C:\\ -Recurse)",
    "@(1,2)",
    "`$x `n `0 `",
    "a; b | c & d",
    'say "hi" to $name',
    "O\u2019Brien \u2018smart\u2019 \u201alow\u201b",
    "\u2019; Stop-Computer; \u2018",
    "'\u2019\u2018'",
    "x' -or MemberOfGroup -ne 'y",
    "CN=Rooms\\, East,OU=Sites,DC=contoso,DC=com",
    "# not a comment",
    "<#",
    "-Confirm:$false",
    "",
    "Zürich Raum 3 – Ost",
    "\t tabbed \t",
]

LINE_BREAKS = ["a\nb", "a\rb", "a\0b", "a\u2028b", "a\u2029b", "a\u0085b"]


@pytest.mark.parametrize("value", ADVERSARIAL)
def test_a_quoted_value_reads_back_as_exactly_itself(value):
    literal = quote(value)
    parsed, end = read_single_quoted(literal, 0)
    assert parsed == value
    assert end == len(literal), "the literal must end exactly at its closing quote"


@pytest.mark.parametrize("value", ADVERSARIAL)
def test_a_quoted_value_is_one_argument_of_its_command(value):
    line = command("Set-DistributionGroup", {"Identity": value, "ManagedBy": [value, "svc@contoso.com"]}).render()
    cmdlet, arguments = command_arguments(line)
    assert cmdlet == "Set-DistributionGroup"
    assert arguments == {"Identity": value, "ManagedBy": [value, "svc@contoso.com"]}


@pytest.mark.parametrize("value", LINE_BREAKS)
def test_line_breaks_and_nul_are_refused_everywhere(value):
    for build in (quote, opath_string, comment, lambda v: member_of_group_filter([v])):
        with pytest.raises(UnsafeValue):
            build(value)


def test_every_powershell_single_quote_is_doubled():
    assert quote("a'b\u2018c\u2019d\u201ae\u201bf") == "'a''b\u2018\u2018c\u2019\u2019d\u201a\u201ae\u201b\u201bf'"
    assert quote('"$x`') == "'\"$x`'"


def test_the_grammar_catches_a_value_that_escapes_its_quotes():
    # Guards the guard: quoting that forgets the typographic quotes must be caught by the tokenizer.
    naive = "'" + "\u2019; Stop-Computer; \u2018".replace("'", "''") + "'"
    with pytest.raises(ParseError):
        command_arguments(f"Get-Mailbox -Identity {naive}")


@pytest.mark.parametrize("dn", ADVERSARIAL[:-2] + ["CN=O'Brien's Rooms,OU=Rooms,DC=contoso,DC=com"])
def test_a_scope_filter_is_a_string_inside_a_string_and_both_round_trip(dn):
    other = "CN=Rooms 02,OU=Rooms,DC=contoso,DC=com"
    line = command(
        "New-ManagementScope", {"Name": "Scope", "RecipientRestrictionFilter": member_of_group_filter([dn, other])}
    ).render()
    _, arguments = command_arguments(line)
    # The shell hands Exchange the filter text; Exchange reads the DNs out of it with OPATH's rules.
    assert opath_member_of_clauses(arguments["RecipientRestrictionFilter"]) == [dn, other]


def test_an_or_injected_in_a_dn_stays_inside_its_clause():
    dn = "CN=x' -or RecipientTypeDetails -eq 'UserMailbox"
    filter_text = member_of_group_filter([dn])
    assert opath_member_of_clauses(filter_text) == [dn]
    assert filter_text.count(" -or ") == 1  # the text, inside the literal; not a second clause
    assert filter_text == "MemberOfGroup -eq 'CN=x'' -or RecipientTypeDetails -eq ''UserMailbox'"


def test_several_lists_are_joined_with_or():
    assert (
        member_of_group_filter(["CN=A,DC=c", "CN=B,DC=c"])
        == "MemberOfGroup -eq 'CN=A,DC=c' -or MemberOfGroup -eq 'CN=B,DC=c'"
    )
    with pytest.raises(UnsafeValue):
        member_of_group_filter([])


def test_commands_render_switches_arrays_and_expressions():
    line = command("New-DistributionGroup", {"Name": "Rooms", "Alias": "rooms", "RoomList": True}).render()
    assert line == "New-DistributionGroup -Name 'Rooms' -Alias 'rooms' -RoomList"
    assert command_arguments(line) == ("New-DistributionGroup", {"Name": "Rooms", "Alias": "rooms", "RoomList": True})
    piped = command("Add-DistributionGroupMember", {"Identity": "a'b", "Member": Expression("$_.ResourceAccounts")})
    assert piped.render() == "Add-DistributionGroupMember -Identity 'a''b' -Member $_.ResourceAccounts"
    with pytest.raises(UnsafeValue):
        piped.arguments()
    assert quote_list(["a", "b'"]) == "'a','b'''"


@pytest.mark.parametrize(
    ("cmdlet", "parameters"),
    [
        ("Get-Mailbox; Stop-Computer", {}),
        ("Get-Mailbox", {"Identity; x": "a"}),
        ("Get-Mailbox", {"Identity": False}),
        ("$(evil)", {}),
    ],
)
def test_names_that_are_not_plain_names_are_refused(cmdlet, parameters):
    with pytest.raises(UnsafeValue):
        command(cmdlet, parameters)


def test_arguments_are_the_same_call_as_data():
    call = command(
        "Add-DistributionGroupMember",
        {"Identity": "a'b", "Member": "r@contoso.com", "BypassSecurityGroupManagerCheck": True},
    )
    assert call.arguments() == {"Identity": "a'b", "Member": "r@contoso.com", "BypassSecurityGroupManagerCheck": True}
    assert command_arguments(call.render())[1] == call.arguments()


def test_a_comment_stays_a_comment():
    assert comment("Rooms of O'Brien; $x") == "# Rooms of O'Brien; $x"
