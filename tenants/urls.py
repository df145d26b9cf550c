from django.urls import path

from tenants import support, views
from wizard import views as wizard_views

app_name = "tenants"
urlpatterns = [
    path("", views.home, name="home"),
    path("tenants/new/", views.create_tenant, name="create"),
    # One fixed redirect URI for Microsoft's admin consent, whichever tenant asked: the session says which.
    path("connect/callback", wizard_views.consent_callback, name="consent_callback"),
    path("support/", support.dashboard, name="support"),
    path("support/tenants.csv", support.export_csv, name="support_export"),
    path("support/t/<slug:slug>/", support.tenant_detail, name="support_tenant"),
]
