"""GET /metrics in Prometheus' text format, for the installation's monitoring only: a bearer token
(ONRAMP_METRICS_TOKEN) is required, and without one configured the page does not exist."""

import hmac
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from tenants.models import Tenant, TenantStatus


class _Organisations:
    """Organisations by state, read from the database at scrape time (one process knows them all)."""

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("onramp_organisations", "Organisations by state.", labels=["state"])

    def describe(self):  # noqa: ANN201 - prometheus-client's collector protocol
        # Registering asks for the names: given here, so that importing the URLs never queries the database.
        yield self._family()

    def collect(self):  # noqa: ANN201
        family = self._family()
        counted = dict(Tenant.objects.values_list("status").annotate(n=Count("id")))
        for state in TenantStatus.values:
            family.add_metric([state], counted.get(state, 0))
        yield family


_ORGANISATIONS = _Organisations()
REGISTRY.register(_ORGANISATIONS)


def _registry() -> CollectorRegistry:
    """Every process's metrics (multiprocess mode), else this process's own; organisations either way."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(_ORGANISATIONS)
    return registry


@login_not_required
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.ONRAMP_METRICS_TOKEN
    if not token:
        raise Http404("Metrics are not enabled")
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(sent.encode(), token.encode()):
        return HttpResponse("A bearer token is needed.", status=401, headers={"WWW-Authenticate": "Bearer"})
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
