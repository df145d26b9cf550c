from django.urls import path

from tenants import views

app_name = "tenants"
urlpatterns = [
    path("", views.home, name="home"),
    path("tenants/new/", views.create_tenant, name="create"),
]
