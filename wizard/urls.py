from django.urls import path

from wizard import views

app_name = "wizard"
urlpatterns = [
    path("", views.resume, name="resume"),
    path("activation/", views.activation, name="activation"),
    path("activation.json", views.activation_json, name="activation_json"),
    path("drift/check", views.check_drift, name="check_drift"),
    path("drift/new-rooms", views.place_new_rooms, name="place_new_rooms"),
    path("drift/settings", views.drift_settings, name="drift_settings"),
    path("exchange-writes", views.switch_exchange_writes, name="exchange_writes"),
    path("connect/consent", views.start_consent, name="start_consent"),
    path("connect/integration", views.integration_picker, name="integration_picker"),
    path("connect/integration/choose", views.choose_integration, name="choose_integration"),
    path("service-account/password", views.reveal_password, name="reveal_password"),
    path("room-lists/<int:number>.csv", views.room_list_csv, name="room_list_csv"),
    path("steps/<str:step_id>/", views.step_page, name="step"),
    path("steps/<str:step_id>/run", views.run_step, name="run"),
    path("steps/<str:step_id>/progress", views.step_progress, name="progress"),
    path("steps/<str:step_id>/rooms", views.rooms_table, name="rooms"),
    path("steps/<str:step_id>/confirm", views.confirm_step, name="confirm"),
    path("steps/<str:step_id>/sign-in-again", views.sign_in_again, name="sign_in_again"),
    path("steps/<str:step_id>/<str:action>", views.step_action, name="action"),
]
