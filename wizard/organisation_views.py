"""The organisation pages: an admin's organisations with where each stands, and creating one."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from tenants.access import is_support, visible_tenants
from tenants.forms import TenantForm
from wizard import actions, presenters, selectors


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
