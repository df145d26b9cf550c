"""The sandbox's Exchange Management Shell for whole scripts (`POST /_sandbox/script`): it behaves as PowerShell and
Exchange do for the subset Onramp's scripts use, so a script that would fail for an admin fails here too."""

import pytest

from sandbox.control import ScriptNotParsed

ROOM = "room-001@contoso.onmicrosoft.com"
LIST = "rooms@contoso.onmicrosoft.com"
NEW_LIST = f"New-DistributionGroup -Name 'Rooms' -Alias 'rooms' -PrimarySmtpAddress '{LIST}' -RoomList"


@pytest.fixture
def control(sandbox_tenant):
    return sandbox_tenant.control


def test_adding_a_member_twice_is_an_error_and_the_script_goes_on(control):
    add = f"Add-DistributionGroupMember -Identity '{LIST}' -Member '{ROOM}'"
    ran = control.run_script(f"{NEW_LIST}\n{add}\n{add}\nWrite-Host 'after'")
    assert [error["type"] for error in ran["errors"]] == [
        "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException"
    ]
    assert ran["errors"][0]["line"] == 3 and "already a member" in ran["errors"][0]["message"]
    assert ran["host"] == ["after"]  # a cmdlet's error does not stop the script
    assert (ran["writes"], ran["changes"]) == (3, 2)


def test_silently_continue_hides_the_not_found_a_guard_expects(control):
    guarded = (
        f"if (-not (Get-DistributionGroup -Identity '{LIST}' -ErrorAction SilentlyContinue)) {{\n    {NEW_LIST}\n}}"
    )
    first = control.run_script(guarded)
    assert first["errors"] == [] and first["changes"] == 1
    again = control.run_script(guarded)
    assert again == {"output": [], "host": [], "errors": [], "writes": 0, "changes": 0}
    unguarded = control.run_script(f"Get-DistributionGroup -Identity 'nobody@contoso.onmicrosoft.com'\n{NEW_LIST}")
    assert [error["type"].rsplit(".", 1)[1] for error in unguarded["errors"]] == [
        "ManagementObjectNotFoundException",
        "ProxyAddressExistsException",
    ]


def test_a_set_that_changes_nothing_is_a_write_but_no_change(control):
    control.run_script(NEW_LIST)
    owner = f"Set-DistributionGroup -Identity '{LIST}' -ManagedBy 'admin' -BypassSecurityGroupManagerCheck"
    ran = control.run_script(f"{owner}\n{owner}")
    assert (ran["writes"], ran["changes"]) == (2, 0)  # the sandbox's admin already manages what it creates
    assert (
        ran["host"]
        == ["WARNING: The command completed successfully but no settings of 'Rooms' have been modified."] * 2
    )


def test_foreach_over_a_csv_with_variables_and_comparisons(control):
    control.run_script(NEW_LIST)
    script = f"""$members = Get-DistributionGroupMember -Identity '{LIST}'
foreach ($row in Import-Csv -Path '.\\rooms.csv') {{
    $room = Get-Recipient -Identity $row.ResourceAccounts -ErrorAction SilentlyContinue
    if (-not $room) {{ Write-Warning ('missing: ' + $row.ResourceAccounts) }}
    elseif ($members.Guid -notcontains $room.Guid) {{
        Add-DistributionGroupMember -Identity '{LIST}' -Member $row.ResourceAccounts
    }}
}}
Get-DistributionGroupMember -Identity '{LIST}' | Format-List PrimarySmtpAddress"""
    files = {"rooms.csv": f"ResourceAccounts\r\n{ROOM}\r\nghost@contoso.onmicrosoft.com\r\n"}
    first = control.run_script(script, files)
    assert first["errors"] == [] and first["host"] == ["WARNING: missing: ghost@contoso.onmicrosoft.com"]
    assert first["output"] == [{"PrimarySmtpAddress": ROOM}] and first["changes"] == 1
    again = control.run_script(script, files)
    assert again["errors"] == [] and again["changes"] == again["writes"] == 0
    missing = control.run_script(script)
    assert [error["type"] for error in missing["errors"]] == ["System.IO.FileNotFoundException"]


def test_read_host_answers_from_the_typed_lines_and_never_shows_a_secure_string(control, sandbox_tenant):
    upn = "svc-new@contoso.onmicrosoft.com"
    new = f"New-Mailbox -Name 'svc-new' -UserPrincipalName '{upn}' -Password (Read-Host -AsSecureString -Prompt 'pw')"
    ran = control.run_script(new, typed=["S3cret-typed!"])
    assert ran["errors"] == [] and ran["output"][0]["RecipientTypeDetails"] == "UserMailbox"
    assert "S3cret-typed!" not in str(ran)
    users = {u["userPrincipalName"]: u for u in control.state()["users"]}
    assert upn in users
    not_interactive = control.run_script(new.replace("svc-new", "svc-other"))
    assert not_interactive["errors"][0]["type"].endswith("PSInvalidOperationException")
    plain = control.run_script(
        "New-Mailbox -Name 'x' -UserPrincipalName 'x@contoso.onmicrosoft.com' -Password (Read-Host -Prompt 'pw')",
        typed=["plain"],
    )
    assert "SecureString" in plain["errors"][0]["message"]


def test_a_script_that_does_not_parse_runs_nothing(control):
    before = control.state()
    with pytest.raises(ScriptNotParsed):
        control.run_script(f'{NEW_LIST}\nWrite-Host "double quotes expand $variables"')
    with pytest.raises(ScriptNotParsed):
        control.run_script(f"if (-not $x) {{\n{NEW_LIST}\n")
    assert control.state() == before
