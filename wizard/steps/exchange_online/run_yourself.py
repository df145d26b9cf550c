"""What the Exchange Online steps share when the organisation's admin makes the Exchange changes (Tenant.
exchange_writes): where the script signs in, how the step is confirmed (wizard.steps.manual, in Exchange Online
PowerShell), and how its result says what Onramp could and could not check without InvokeCommand.

Each step that writes through InvokeCommand has a run_yourself.py in its folder: its script (built from the same
plan the automated step applies) and its check (what Onramp can still read: Microsoft Graph, and the integration's
own calendar reads in verify). The registry turns the step into that form for such an organisation
(wizard.steps.registry.as_run_by)."""

from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant
from wizard.services.common import result_of
from wizard.steps import manual
from wizard.steps.exchange_online.connect.result import ConnectResult
from wizard.steps.registry import RunYourself, Service

# The result key under which a run-it-yourself step lists what Onramp checked and what it could not.
CHECKS = "checked_without_invoke_command"
CHECKED_BY_VERIFY = _(
    "Onramp then checks what it can read through Microsoft Graph; “Verify” proves the result by reading each room's"
    " calendar as the integration, and that a mailbox that is not a room stays closed to it."
)
NEEDS_EXCHANGE = "Exchange reports this only through its own PowerShell or InvokeCommand, which Onramp does not call"


def organization(tenant: Tenant) -> str:
    """The organisation `Connect-ExchangeOnline -Organization` names: its initial .onmicrosoft.com domain, else its
    default domain, else its Microsoft tenant id."""
    connected = result_of(tenant, ConnectResult) or ConnectResult()
    domains = [str(domain.get("id") or "") for domain in connected.domains]
    initial = [domain for domain in domains if domain.endswith(".onmicrosoft.com") and ".mail." not in domain]
    return next(iter(initial), "") or connected.address_domain or tenant.microsoft_tenant_id


def run_yourself(
    script_of: manual.ScriptOf,
    perform: Service,
    checked_by: str = CHECKED_BY_VERIFY,
    missing_input: manual.MissingInput = manual.nothing_missing,
) -> RunYourself:
    """A step whose Exchange changes the admin makes: its page shows the commands `script_of` gives, the admin
    confirms them in Exchange Online PowerShell, and `perform` checks what Onramp can still read."""
    return RunYourself(
        perform=perform,
        powershell=manual.shows(script_of),
        confirmation=manual.confirmed_by_the_admin(
            script_of, checked_by, missing_input, shell=manual.EXCHANGE_ONLINE_POWERSHELL
        ),
    )


def reads_only(perform: Service) -> RunYourself:
    """A step that only reads through InvokeCommand (verify): it runs as usual, reading through Graph instead."""
    return RunYourself(perform=perform)
