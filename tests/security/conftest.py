"""Two tenants with their own admins, support staff, and a walk over every URL pattern of the project."""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tenants.models import Profile, Tenant
from tenants.services import create_tenant
from wizard.steps.registry import steps_for

# Django's admin is staff-only and guarded by its own login; it is checked on its own, not walked.
SKIPPED_NAMESPACES = frozenset({"admin"})
# Every action name the wizard's action URL knows, and one it does not.
ACTIONS = ("retry", "reverify", "resume", "skip", "confirm", "no-such-action")


@dataclass(frozen=True)
class Route:
    name: str  # namespaced, e.g. "wizard:step"
    route: str  # e.g. "t/<slug:slug>/steps/<str:step_id>/"
    params: frozenset[str]

    def urls(self, tenant: Tenant) -> list[str]:
        """The route with `slug` = `tenant`'s slug, once per step id of its profile and per action name."""
        values = {
            "slug": [tenant.slug],
            "step_id": [step.id for step in steps_for(tenant.profile)],
            "action": list(ACTIONS),
        }
        unknown = self.params - values.keys()
        if unknown:
            raise LookupError(f"{self.name} takes {sorted(unknown)}: give the URL walk values for it")
        names = sorted(self.params)
        return [
            reverse(self.name, kwargs=dict(zip(names, combination, strict=True)))
            for combination in itertools.product(*(values[name] for name in names))
        ]


def _walk(
    patterns: list, prefix: str = "", namespace: str = "", params: frozenset[str] = frozenset()
) -> Iterator[Route]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        found = params | frozenset(getattr(entry.pattern, "converters", {}))
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}".strip(":") if entry.namespace else namespace
            if inner.split(":")[0] in SKIPPED_NAMESPACES:
                continue
            yield from _walk(entry.url_patterns, route, inner, found)
        elif isinstance(entry, URLPattern):
            yield Route(f"{namespace}:{entry.name}".strip(":"), route, found)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


@pytest.fixture
def users(db):
    model = get_user_model()
    return {
        "alice": model.objects.create_user("alice", password="pw-alice-1234"),
        "bob": model.objects.create_user("bob", password="pw-bob-1234"),
        "support": model.objects.create_user("sam", password="pw-sam-1234", is_staff=True),
    }


@pytest.fixture
def tenants(users) -> dict[str, Tenant]:
    """Alice's tenant, and Bob's two: one per profile, so every step id of both profiles is walked."""
    return {
        "contoso": create_tenant(creator=users["alice"], display_name="Contoso", slug="contoso"),
        "fabrikam": create_tenant(creator=users["bob"], display_name="Fabrikam", slug="fabrikam"),
        "northwind": create_tenant(
            creator=users["bob"], display_name="Northwind", slug="northwind", profile=Profile.EXCHANGE_SERVER
        ),
    }


@pytest.fixture(autouse=True)
def plain_static_storage(settings) -> None:
    """Production settings hash static names from collectstatic's manifest, which a test run does not build."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
