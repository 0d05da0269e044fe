from __future__ import annotations

from pathlib import Path

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

import django_slack_rules

urlpatterns = [
    path("", RedirectView.as_view(url="/slack/", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("alerts/", include("alerts.urls")),
]

# TEMPORARY until the package's rule pages land; then included unconditionally.
if (Path(django_slack_rules.__file__).parent / "urls.py").exists():
    urlpatterns.append(path("slack/", include("django_slack_rules.urls")))
else:
    urlpatterns[0] = path("", RedirectView.as_view(url="/admin/", permanent=False))
