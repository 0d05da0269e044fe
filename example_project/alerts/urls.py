from __future__ import annotations

from django.urls import path

from . import views

app_name = "alerts"

urlpatterns = [
    path("api/v1/webhook/", views.alertmanager_webhook, name="webhook"),
]
