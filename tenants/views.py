from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from tenants.access import is_support, visible_tenants
from tenants.forms import TenantForm
from tenants.services import create_tenant as create_tenant_service
from wizard import selectors


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def home(request: HttpRequest) -> HttpResponse:
    """An admin's organisations, each with where it stands. Support, who sees every tenant, gets the console."""
    if is_support(request.user):
        return redirect("tenants:support")
    tenants = selectors.dashboard_tenants(tenants=visible_tenants(request.user))
    titles = selectors.step_titles()
    rows = [
        (tenant, titles.get((tenant.profile, tenant.current_step_id), ""), selectors.tenant_status_label(tenant))
        for tenant in tenants
    ]
    return render(request, "tenants/home.html", {"rows": rows})


def create_tenant(request: HttpRequest) -> HttpResponse:
    form = TenantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        tenant = create_tenant_service(
            creator=request.user,
            display_name=form.cleaned_data["display_name"],
            slug=form.cleaned_data["slug"],
            profile=form.cleaned_data["profile"],
        )
        return redirect("wizard:resume", slug=tenant.slug)
    return render(request, "tenants/create.html", {"form": form})
