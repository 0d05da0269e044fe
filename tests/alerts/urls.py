"""The host's alert pages, by SentryHub's URL names (``alerts:alert-detail``)."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path

from tests.alerts.models import AlertGroup

app_name = "alerts"


def alert_detail(request, fingerprint):
    alert = get_object_or_404(AlertGroup, fingerprint=fingerprint)
    return HttpResponse(f"{alert.name} ({alert.fingerprint})", content_type="text/plain")


urlpatterns = [path("<str:fingerprint>/", alert_detail, name="alert-detail")]
