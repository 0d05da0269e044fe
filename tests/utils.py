"""Small helpers the test modules share: the rule pages' URLs, the host's signal, commands."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.core.management import call_command
from django.urls import reverse

from tests.alerts.models import AlertGroup
from tests.alerts.signals import alert_processed

NS = "django_slack_rules"


def url(name: str, *args: Any) -> str:
    """The URL of a rule page by its name in the package's namespace: ``url("rule-list")``."""
    return reverse(f"{NS}:{name}", args=args)


def fire(alert: AlertGroup, instance: Any = None, status: str = "firing") -> None:
    """Send the host's ``alert_processed`` signal, as SentryHub does for each alert."""
    alert_processed.send(sender=AlertGroup, alert_group=alert, instance=instance, status=status)


def call(*args: str) -> str:
    """Run a management command; return what it wrote to stdout."""
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()
