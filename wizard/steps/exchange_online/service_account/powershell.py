"""The PowerShell the service_account step's page shows: what the step does, for an admin to read or run."""

from tenants.models import Tenant
from wizard.models import StepState
from wizard.powershell import quote, saved_value


def commands(tenant: Tenant, state: StepState) -> str:
    upn = saved_value(state, "user_principal_name", "onramp-svc@contoso.onmicrosoft.com")
    location = saved_value(state, "usage_location", "US")
    sku = saved_value(state, "sku_part_number", "EXCHANGESTANDARD")
    return (
        "Connect-MgGraph -Scopes User.ReadWrite.All,Organization.Read.All\n"
        "$password = @{ Password = Read-Host -AsSecureString | ConvertFrom-SecureString -AsPlainText;"
        " ForceChangePasswordNextSignIn = $false }\n"
        f"$user = New-MgUser -DisplayName {quote('Room booking service')} -MailNickname "
        f"{quote(upn.split('@')[0])} -UserPrincipalName {quote(upn)} -UsageLocation {quote(location)} "
        "-AccountEnabled -PasswordProfile $password\n"
        f"$sku = Get-MgSubscribedSku | Where-Object SkuPartNumber -eq {quote(sku)}\n"
        "Set-MgUserLicense -UserId $user.Id -AddLicenses @{SkuId = $sku.SkuId} -RemoveLicenses @()\n"
        f"Get-Mailbox -Identity {quote(upn)}"
    )
