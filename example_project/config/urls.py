from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="django_slack_rules:rule-list", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    # The host's Alertmanager webhook: alerts/api/v1/webhook/ (SentryHub's path).
    path("alerts/", include("alerts.urls")),
    # django-slack-rules' rule pages (namespace "django_slack_rules").
    path("slack/", include("django_slack_rules.urls")),
]
