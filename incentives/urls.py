from django.urls import path

from . import views

app_name = "mobile_incentives"

urlpatterns = [
    path("", views.index, name="index"),
    path("rewards/", views.rewards, name="rewards"),
    path("rewards/<int:pk>/redeem/", views.redeem, name="redeem"),
    path("redemptions/", views.redemptions, name="redemptions"),
    path("redemptions/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("claims/", views.claims, name="claims"),
    path("ranking/", views.ranking, name="ranking"),
]
