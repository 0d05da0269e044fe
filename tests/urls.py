from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("slack/", include("django_slack_rules.urls")),
    path("alerts/", include("tests.alerts.urls", namespace="alerts")),
]
