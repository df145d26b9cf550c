from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from tenants.access import is_support, visible_tenants
from tenants.forms import TenantForm
from tenants.services import create_tenant as create_tenant_service


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def home(request: HttpRequest) -> HttpResponse:
    tenants = visible_tenants(request.user).order_by("display_name")
    return render(request, "tenants/home.html", {"tenants": tenants, "is_support": is_support(request.user)})


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
