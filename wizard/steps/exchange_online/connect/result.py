"""What the connect step saves as its result."""

from dataclasses import dataclass, field

from wizard.results import JsonObject, StepResult, loaded_by, objects, strings


@dataclass(frozen=True)
class ConnectResult(StepResult):
    STEP_ID = "connect"

    organization_name: str = ""
    microsoft_tenant_id: str = ""
    country: str = ""
    domains: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
    verified_domains: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    default_domain: str = ""
    licences: tuple[JsonObject, ...] = field(default=(), metadata=loaded_by(objects))
    exchange_organization: str = ""
    permissions_probed: tuple[str, ...] = field(default=(), metadata=loaded_by(strings))
    connection_verified: bool = False
    # The other organisations on this Microsoft tenant, when the admin agreed to share it (its service).
    shared_microsoft_tenant: JsonObject | None = None
    # Whether the integration's app has a service principal in the tenant (someone consented to it): scoped access
    # (step 5) is granted to it, so an app not there yet is said at step 0. None when no app id is given.
    integration_in_tenant: bool | None = None

    @property
    def address_domain(self) -> str:
        """The domain new addresses (service account, room list) default to: the default domain, else the first
        verified one."""
        return self.default_domain or next(iter(self.verified_domains), "")
