"""An organisation's audit trail as a download, CSV or JSON: who, what, when, which step, how it went. For anyone
who may see the organisation (its members and support); secrets never enter the trail, and detail keys that name
one are left out all the same."""

import csv
import json

from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from tenants.access import get_tenant_for
from wizard import presenters
from wizard.models import AuditEvent

COLUMNS = ("time", "actor", "action", "step", "outcome", "detail")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _record(event: AuditEvent) -> dict:
    return {
        "time": event.created_at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "step": event.step_id,
        "outcome": event.outcome,
        "detail": dict(presenters.public_items(event.detail or {})),
    }


@require_GET
def audit_export(request: HttpRequest, slug: str, fmt: str) -> StreamingHttpResponse:
    tenant = get_tenant_for(request.user, slug)
    if fmt not in ("csv", "json"):
        raise Http404("No such format")
    events = AuditEvent.objects.filter(tenant=tenant).order_by("created_at", "id").iterator(chunk_size=2000)
    if fmt == "csv":
        writer = csv.writer(_Echo())

        def lines():
            yield writer.writerow(COLUMNS)
            for event in events:
                record = _record(event)
                record["detail"] = json.dumps(record["detail"], sort_keys=True, default=str)
                yield writer.writerow(presenters.neutralise(record[column]) for column in COLUMNS)

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    else:

        def chunks():
            yield f'{{"organisation": {json.dumps(tenant.slug)}, "events": ['
            for index, event in enumerate(events):
                yield ("," if index else "") + json.dumps(_record(event), default=str)
            yield "]}"

        response = StreamingHttpResponse(chunks(), content_type="application/json")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="onramp-{tenant.slug}-audit-{stamp}.{fmt}"'
    return response
