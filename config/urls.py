from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from observability.readiness import readyz
from tenants.views import favicon, healthz
from wizard.metrics_views import metrics
from wizard.people.views import SignInView

urlpatterns = [
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The language chooser posts here, signed in or not (the sign-in page has it too).
    path("language", login_not_required(set_language), name="set_language"),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("wizard.people.urls")),
    path("t/<slug:slug>/", include("wizard.urls")),
    path("", include("wizard.organisation_urls")),
]
