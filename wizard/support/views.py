"""The support console: every tenant at a glance, a CSV export, and one tenant's timeline. Support staff only;
nothing here reads or shows a secret."""

from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from tenants.access import can_operate, get_tenant_for, is_support
from tenants.models import TenantStatus
from wizard import presenters, selectors
from wizard.errors import INVOKE_COMMAND_REFUSED, INVOKE_COMMAND_REFUSED_EXPLANATION
from wizard.models import ACTIVE_STATUSES
from wizard.steps.registry import steps_of

CSV_COLUMNS = ("slug", "name", "profile", "microsoft_tenant_id", "current_step", "status", "last_activity", "created")


def support_only(view):
    """Support pages are a 404 to anyone else, like another tenant's pages."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not is_support(request.user):
            raise Http404("No such page")
        return view(request, *args, **kwargs)

    return wrapper


def _filters(request: HttpRequest) -> tuple[str, str]:
    filter_name = request.GET.get("filter", "")
    if filter_name not in dict(selectors.DashboardFilter.CHOICES):
        filter_name = ""
    return filter_name, request.GET.get("q", "")[:200]


@require_GET
@support_only
def dashboard(request: HttpRequest) -> HttpResponse:
    filter_name, search = _filters(request)
    page = selectors.dashboard_page(filter_name, search, request.GET.get("page"))
    titles = selectors.step_titles()
    rows = [
        {
            "tenant": tenant,
            "step_title": titles.get((tenant.profile, tenant.current_step_id), tenant.current_step_id or _("All done")),
            "status": presenters.tenant_status_label(tenant),
            "status_key": tenant.current_status or tenant.status,
        }
        for tenant in page.object_list
    ]
    context = {
        "page": page,
        "rows": rows,
        "filter": filter_name,
        "filters": selectors.DashboardFilter.CHOICES,
        "q": search,
        "now": timezone.now(),
    }
    context["any_active"] = any(row["status_key"] in ACTIVE_STATUSES for row in rows)
    # The search box, the filters and the table's own polling swap only the table (htmx); a plain request gets the
    # whole page.
    partial = request.htmx and request.htmx.target == "tenant-table"
    return render(request, "support/_tenant_table.html" if partial else "support/dashboard.html", context)


@require_GET
@support_only
def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    filter_name, search = _filters(request)
    titles = selectors.step_titles()

    def rows():
        yield CSV_COLUMNS
        for tenant in selectors.dashboard_tenants(filter_name, search).iterator(chunk_size=2000):
            yield [
                presenters.spreadsheet_safe(value)
                for value in (
                    tenant.slug,
                    tenant.display_name,
                    tenant.profile,
                    tenant.microsoft_tenant_id,
                    titles.get((tenant.profile, tenant.current_step_id), "") if tenant.current_step_id else "",
                    presenters.tenant_status_label(tenant),
                    tenant.last_activity.isoformat() if tenant.last_activity else "",
                    tenant.created_at.isoformat(),
                )
            ]

    response = StreamingHttpResponse(presenters.csv_lines(rows()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="onramp-tenants-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response


@require_GET
@support_only
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_tenant_for(request.user, slug)
    states = selectors.states_of_every_step(tenant)
    steps = {step.id: step for step in steps_of(tenant)}
    timeline = selectors.timeline_page(tenant, before=request.GET.get("before"), after=request.GET.get("after"))
    drift_panel = presenters.drift_panel(tenant)
    context = {
        "tenant": tenant,
        "states": [
            {
                "state": state,
                "status": presenters.StatusView.of(state),
                "support_case": presenters.support_case_text(tenant, steps[state.step_id].title, state),
                "step": steps[state.step_id],
                "stuck_for": selectors.stuck_since(state),
                "blocked_by": selectors.unmet_prerequisite(tenant, state.step_id, states),
                "result": presenters.display_items(state.result),
            }
            for state in states
            if state.step_id in steps
        ],
        "timeline": timeline,
        "events": [
            (
                event,
                steps[event.step_id].title if event.step_id in steps else event.step_id,
                presenters.display_items(event.detail),
            )
            for event in timeline.events
        ],
        "resume_state_title": steps[current.step_id].title if (current := selectors.resume_state(states)) else "",
        "can_operate": can_operate(request.user, tenant),
        "drift_checked": drift_panel["drift_checked"],
        "drift_check": drift_panel["drift_check"],
        "drift_check_failed": drift_panel["drift_check_failed"],
        "drift_check_done": drift_panel["drift_check_done"],
        "tenant_active": tenant.status == TenantStatus.ACTIVE,
        "drift_findings": drift_panel["drift_findings"],
        "rooms_placed_since_check": drift_panel["rooms_placed_since_check"],
        "new_rooms": drift_panel["new_rooms"],
    }
    context["any_active"] = any(state.is_active for state in states)
    context["invoke_command_refused"] = any(state.error_code == INVOKE_COMMAND_REFUSED for state in states)
    context["invoke_command_refused_explanation"] = gettext(INVOKE_COMMAND_REFUSED_EXPLANATION)
    partial = request.htmx and request.htmx.target == "states"
    return render(request, "support/_states.html" if partial else "support/tenant.html", context)
