from django.urls import path

app_name = "mobile_issues"

urlpatterns: list = []
