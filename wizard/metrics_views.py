"""GET /metrics in Prometheus' text format, for the installation's monitoring only: a bearer token
(ONRAMP_METRICS_TOKEN) is required, and without one configured the page does not exist."""

import hmac
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from observability.celery_metrics import QueueDepth
from tenants.models import Tenant, TenantStatus
from wizard.models import DriftCheck, DriftCheckStatus


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


class _DriftFindings:
    """What drifted now: the findings of each organisation's latest completed drift check, by kind, read from the
    database at scrape time. A gauge rather than a counter of checks run: a finding stays until a check no longer
    finds it, and the database holds it whichever worker found it and across restarts."""

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "onramp_drift_findings",
            "Findings of each organisation's latest completed drift check, by kind.",
            labels=["kind"],
        )

    def describe(self):  # noqa: ANN201 - prometheus-client's collector protocol
        yield self._family()

    def collect(self):  # noqa: ANN201
        family = self._family()
        done = DriftCheck.objects.filter(status=DriftCheckStatus.DONE)
        latest = done.filter(tenant=OuterRef("pk")).order_by("-finished_at", "-pk").values("pk")[:1]
        latest_checks = Tenant.objects.annotate(check=Subquery(latest)).exclude(check=None).values("check")
        counted: dict[str, int] = {}
        for findings in done.filter(pk__in=latest_checks, drifted=True).values_list("findings", flat=True):
            for finding in findings:
                counted[finding["kind"]] = counted.get(finding["kind"], 0) + 1
        for kind, count in sorted(counted.items()):
            family.add_metric([kind], count)
        yield family


# Read at scrape time by whichever process serves the page: the database's and the broker's figures are the same
# from every process, so they are not added up across processes.
_SCRAPE_TIME_COLLECTORS = (_Organisations(), _DriftFindings(), QueueDepth())
for _collector in _SCRAPE_TIME_COLLECTORS:
    REGISTRY.register(_collector)


def _registry() -> CollectorRegistry:
    """Every process's metrics (multiprocess mode), else this process's own; the scrape-time figures either way."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    for collector in _SCRAPE_TIME_COLLECTORS:
        registry.register(collector)
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
