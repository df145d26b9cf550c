"""The organisation pages: an admin's organisations with where each stands, creating one, and its timeline's
export (the same file from the organisation's summary page and from the support console)."""

import itertools

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from tenants.access import get_tenant_for, is_support, visible_tenants
from tenants.forms import TenantForm
from wizard import actions, presenters, selectors
from wizard.steps.registry import steps_for


def home(request: HttpRequest) -> HttpResponse:
    """An admin's organisations, each with where it stands. Support, who sees every tenant, gets the console."""
    if is_support(request.user):
        return redirect("orgs:support")
    tenants = selectors.dashboard_tenants(tenants=visible_tenants(request.user))
    titles = selectors.step_titles()
    rows = [
        (tenant, titles.get((tenant.profile, tenant.current_step_id), ""), presenters.tenant_status_label(tenant))
        for tenant in tenants
    ]
    return render(request, "tenants/home.html", {"rows": rows})


def create_tenant(request: HttpRequest) -> HttpResponse:
    form = TenantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        tenant = actions.create_tenant(
            creator=request.user,
            display_name=form.cleaned_data["display_name"],
            slug=form.cleaned_data["slug"],
            profile=form.cleaned_data["profile"],
        )
        return redirect("wizard:resume", slug=tenant.slug)
    return render(request, "tenants/create.html", {"form": form})


@require_GET
def timeline_export(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    """The organisation's whole timeline (who, what, when, step, outcome, detail without secrets) as CSV, whose
    cells a spreadsheet shows as text, or JSON, oldest first. Whoever may see the organisation may download it. Both
    stream from a server-side cursor, a chunk of events at a time: a million events take no more memory than ten."""
    tenant = get_tenant_for(request.user, slug)
    # Translated once here, in the request's language, not once an event.
    titles = {step.id: str(step.title) for step in steps_for(tenant.profile)}
    events = selectors.timeline_events(tenant).iterator(chunk_size=2000)
    filename = f"onramp-{tenant.slug}-timeline-{timezone.now():%Y%m%d-%H%M}.{fmt}"
    records = (presenters.timeline_record(event, titles) for event in events)
    if fmt == "json":
        head = {
            "organisation": tenant.slug,
            "name": tenant.display_name,
            "microsoft_tenant_id": tenant.microsoft_tenant_id,
        }
        response = StreamingHttpResponse(
            presenters.in_pieces(presenters.timeline_json_lines(head, records)), content_type="application/json"
        )
    else:
        rows = (presenters.timeline_csv_row(record) for record in records)
        lines = presenters.csv_lines(itertools.chain([presenters.TIMELINE_COLUMNS], rows))
        response = StreamingHttpResponse(presenters.in_pieces(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
