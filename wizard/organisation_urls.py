from django.urls import path

from wizard import organisation_views
from wizard import views as wizard_views
from wizard.support import views as support_views

app_name = "orgs"
urlpatterns = [
    path("", organisation_views.home, name="home"),
    path("tenants/new/", organisation_views.create_tenant, name="create"),
    # One fixed redirect URI for Microsoft's admin consent, whichever tenant asked: the session says which.
    path("connect/callback", wizard_views.consent_callback, name="consent_callback"),
    # Where admin consent started from `onramp connect --with-microsoft` returns: a page that only says so.
    path("connect/consented", wizard_views.consent_from_terminal_done, name="consent_from_terminal_done"),
    path("support/", support_views.dashboard, name="support"),
    path("support/tenants.csv", support_views.export_csv, name="support_export"),
    path("support/t/<slug:slug>/", support_views.tenant_detail, name="support_tenant"),
    path("t/<slug:slug>/timeline.csv", organisation_views.timeline_export, {"fmt": "csv"}, name="timeline_csv"),
    path("t/<slug:slug>/timeline.json", organisation_views.timeline_export, {"fmt": "json"}, name="timeline_json"),
]
