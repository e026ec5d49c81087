from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "mobile"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="mobile:login"), name="logout"),
    path("grid/<str:code>/", views.microgrid, name="microgrid"),
]
