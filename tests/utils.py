"""Small helpers the test modules share: the rule pages' URLs, the host's signal, commands."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.core.management import call_command
from django.urls import reverse

from tests.alerts.models import AlertGroup
from tests.alerts.signals import alert_processed
from tests.factories import RuleFactory

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


def fan_out_rules() -> None:
    """Three rules: pager continues to web, which stops the chain before the catch-all.

    An alert ``High…`` of team web goes to #pager and #web; one of team db to #all only.
    """
    RuleFactory(
        name="pager",
        priority=30,
        match_criteria=['alertname=~"High.*"', 'team!="db"'],
        continue_matching=True,
        slack_channel="#pager",
        message_template="page: {{ alertname }}",
    )
    RuleFactory(
        name="web",
        priority=20,
        match_criteria={"team": "web"},
        slack_channel="#web",
        message_template="web: {{ alertname }}",
        resolved_message_template="web: {{ alertname }} resolved",
    )
    RuleFactory(
        name="catch-all",
        priority=0,
        match_criteria=[],
        slack_channel="#all",
        message_template="all: {{ alertname }} on {{ labels.instance }}",
    )
