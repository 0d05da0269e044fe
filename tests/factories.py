"""factory-boy factories: rules, deliveries, and the host's alerts (shaped like SentryHub's)."""

from __future__ import annotations

import datetime

import factory
from django.utils import timezone

from django_slack_rules.models import SlackDelivery, SlackIntegrationRule
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


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A pending delivery, as the signal receiver records it."""

    class Meta:
        model = SlackDelivery

    rule = factory.SubFactory(RuleFactory)
    rule_name = factory.LazyAttribute(lambda d: d.rule.name if d.rule else "")
    alert_id = factory.Sequence(str)
    fingerprint = factory.Sequence(lambda n: f"fp{n:04d}")
    alert_status = "firing"
    occurrence = factory.Sequence(str)
    idempotency_key = factory.LazyAttribute(
        lambda d: SlackDelivery.make_key(
            d.rule.pk if d.rule else 0, d.alert_id, d.alert_status, d.occurrence
        )
    )
    channel = "#alerts"
    text = "Disk full"


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
