"""The Microsoft Entra directory roles a signed-in administrator needs for what the steps do in their organisation.

Connected with Microsoft, Onramp acts with the administrator's own rights (delegated permissions are the
intersection of the app's consented scopes and the person's roles), so each step names what it does (`RoleNeed`)
and the roles that may do it. Role template ids are those of Microsoft's "Microsoft Entra built-in roles" reference
(entra-docs, identity/role-based-access-control/permissions-reference.md).
"""

from collections.abc import Iterable
from dataclasses import dataclass

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
EXCHANGE_ADMINISTRATOR = "29232cdf-9323-42fd-ade2-1d097af3e4de"
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"

ROLE_NAMES = {
    GLOBAL_ADMINISTRATOR: "Global Administrator",
    PRIVILEGED_ROLE_ADMINISTRATOR: "Privileged Role Administrator",
    EXCHANGE_ADMINISTRATOR: "Exchange Administrator",
    USER_ADMINISTRATOR: "User Administrator",
}


@dataclass(frozen=True)
class RoleNeed:
    """Something a step does in the organisation, and the directory roles any one of which allows it."""

    does: str
    roles: tuple[str, ...]

    @property
    def role_names(self) -> str:
        return " or ".join(ROLE_NAMES[role] for role in self.roles)


# Granting tenant-wide consent to Onramp's app ("Grant tenant-wide admin consent to an application": Global
# Administrator or Privileged Role Administrator for Microsoft Graph permissions).
CONSENT = RoleNeed(
    "consent to Onramp's app for the organisation", (GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR)
)
# Exchange Online's cmdlets (room lists, rooms, scopes, role assignments): Exchange Administrator and Global
# Administrator are members of Exchange Online's Organization Management role group ("Permissions in Exchange
# Online", OfficeDocs-Exchange permissions-exo).
EXCHANGE_CHANGES = RoleNeed("change Exchange Online", (GLOBAL_ADMINISTRATOR, EXCHANGE_ADMINISTRATOR))
# Creating a user, setting its password and assigning it a licence (permissions reference: User Administrator holds
# microsoft.directory/users/create, users/password/update and users/assignLicense).
USER_CHANGES = RoleNeed("create and license the service account", (GLOBAL_ADMINISTRATOR, USER_ADMINISTRATOR))


def missing(needs: Iterable[RoleNeed], held: Iterable[str]) -> list[RoleNeed]:
    """The needs none of whose roles the person holds, each once, in the order given."""
    held = set(held)
    gaps: list[RoleNeed] = []
    for need in needs:
        if not held & set(need.roles) and need not in gaps:
            gaps.append(need)
    return gaps


def names_of(held: Iterable[str]) -> list[str]:
    return [ROLE_NAMES[role] for role in held if role in ROLE_NAMES]
