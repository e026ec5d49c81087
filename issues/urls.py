from django.urls import path

from . import views

app_name = "mobile_issues"

urlpatterns = [
    path("", views.index, name="index"),
    path("report/", views.report, name="report"),
    path("queue/<slug:name>/", views.queue, name="queue"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/<slug:action>/", views.act, name="act"),
]
