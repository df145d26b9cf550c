from django.urls import path

from wizard import views

app_name = "wizard"
urlpatterns = [
    path("", views.resume, name="resume"),
    path("steps/<str:step_id>/", views.step_page, name="step"),
    path("steps/<str:step_id>/run", views.run_step, name="run"),
    path("steps/<str:step_id>/progress", views.step_progress, name="progress"),
]
