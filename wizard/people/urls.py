from django.urls import path

from wizard.people import views as people_views

app_name = "people"
urlpatterns = [
    path("signin/microsoft/", people_views.microsoft_start, name="microsoft_start"),
    path("signin/microsoft/callback", people_views.microsoft_callback, name="microsoft_callback"),
    path("invitations/<str:token>/", people_views.invitation, name="invitation"),
    path("t/<slug:slug>/members/", people_views.members, name="members"),
    path("t/<slug:slug>/members/invite", people_views.invite, name="invite"),
    path("t/<slug:slug>/members/notifications", people_views.notification_setting, name="notifications"),
    path("t/<slug:slug>/members/invitations/<int:pk>/revoke", people_views.revoke_invitation, name="revoke"),
    path("t/<slug:slug>/members/<int:pk>/role", people_views.change_role, name="change_role"),
    path("t/<slug:slug>/members/<int:pk>/remove", people_views.remove_member, name="remove"),
]
