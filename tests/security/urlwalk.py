"""A walk over every URL pattern of the project, from the resolver, with values for each parameter."""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tenants.models import Tenant
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
        """The route with `slug` = `tenant`'s slug, once per step id of its profile, per action name and per list
        number (the first room list, and one past the 27 that 2,000 rooms need)."""
        values = {
            "slug": [tenant.slug],
            "step_id": [step.id for step in steps_for(tenant.profile)],
            "action": list(ACTIONS),
            "number": [1, 28],
            "token": ["not-a-signed-invitation"],
            "pk": [1],
            "fmt": ["csv", "json"],
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
