"""factory-boy factories: rules, and the host's alerts (shaped like SentryHub's)."""

from __future__ import annotations

import datetime

import factory
from django.utils import timezone

from django_slack_rules.models import SlackIntegrationRule
from tests.alerts.models import AlertGroup, AlertInstance


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlackIntegrationRule
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"rule-{n:04d}")
    is_active = True
    priority = 0
    match_criteria = factory.LazyFunction(dict)
    slack_channel = "#alerts"
    message_template = ":fire: *{{ alertname }}* on {{ instance }}: {{ summary }}"
    resolved_message_template = ""


class AlertGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertGroup

    fingerprint = factory.Sequence(lambda n: f"fp{n:012x}")
    name = "HighCPU"
    labels = factory.LazyAttribute(
        lambda o: {"alertname": o.name, "severity": o.severity, "instance": o.instance or ""}
    )
    severity = "warning"
    instance = "web-1:9100"
    current_status = "firing"
    is_silenced = False


class AlertInstanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertInstance

    alert_group = factory.SubFactory(AlertGroupFactory)
    status = "firing"
    started_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(minutes=5))
    ended_at = None
    annotations = factory.LazyFunction(
        lambda: {"summary": "CPU above 90%", "description": "Load is high"}
    )
