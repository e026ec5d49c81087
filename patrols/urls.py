from django.urls import path

from . import views

app_name = "mobile_patrols"

urlpatterns = [
    path("", views.index, name="index"),
    path("plans/<int:pk>/", views.plan, name="plan"),
    path("records/<int:pk>/", views.record, name="record"),
    path("log/", views.worklog, name="log"),
    path("profile/", views.profile, name="profile"),
    path("profile/<str:username>/", views.profile, name="profile_of"),
    path("reports/<int:pk>/", views.report, name="report"),
    path("reports/<int:pk>/print/", views.report_print, name="report_print"),
    path("reports/<int:pk>/xlsx", views.report_xlsx, name="report_xlsx"),
]
