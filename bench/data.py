"""The rules and alerts the delivery benchmarks create in the test host (SentryHub's shapes).

The package's rules and SentryHub's in-tree rules mirror each other (names, priorities,
channels, criteria, the same message in each one's template names), so both variants send
the same messages. Nothing here is timed.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STATUS = "firing"
SEVERITIES = ("critical", "warning", "info")
TEAMS = tuple(f"team-{i:02d}" for i in range(1, 11))
NAMESPACES = tuple(f"ns-{i:03d}" for i in range(1, 41))
JOBS = ("node-exporter", "kube-state-metrics", "kubelet", "postgres-exporter", "api-server")
ALERTNAMES = tuple(
    prefix + suffix
    for prefix in (
        "NodeDown",
        "HighCPU",
        "HighMemory",
        "DiskFull",
        "PodCrashLooping",
        "HighLatency",
    )
    for suffix in ("", "Critical", "Sustained", "Predicted", "Canary")
)

#: A realistic rule template: conditions, filters, labels and annotations.
TEMPLATE = """\
{% if severity == "critical" %}<!here> {% endif %}:fire: *{{ alertname }}* ({{ severity }}) \
on `{{ instance }}`
{{ summary }}
{% if description %}> {{ description }}
{% endif %}Team: {{ labels.team|default:"unowned" }} · namespace {{ labels.namespace|default:"-" }}
Started {{ started_at|date:"Y-m-d H:i" }} UTC · rule {{ rule.name }}"""
RESOLVED_TEMPLATE = ":white_check_mark: *{{ alertname }}* resolved"
#: The same message in the names SentryHub's task offers (model instances; no ``rule`` in its
#: context, so the rule name is written into each rule's template).
SENTRYHUB_TEMPLATE = """\
{% if alert_group.severity == "critical" %}<!here> {% endif %}:fire: *{{ alert_group.name }}* \
({{ alert_group.severity }}) on `{{ alert_group.instance }}`
{{ summary }}
{% if description %}> {{ description }}
{% endif %}Team: {{ alert_group.labels.team|default:"unowned" }} · namespace \
{{ alert_group.labels.namespace|default:"-" }}
Started {{ latest_instance.started_at|date:"Y-m-d H:i" }} UTC · rule RULE_NAME"""
SENTRYHUB_RESOLVED_TEMPLATE = ":white_check_mark: *{{ alert_group.name }}* resolved"


@dataclass(frozen=True)
class Notification:
    """One alert as the host holds it when it sends ``alert_processed``."""

    alert: Any
    instance: Any


def notify(item: Notification) -> None:
    """The host processes an alert: in a transaction of its own it sends ``alert_processed``,
    whose receivers match and queue their tasks at commit."""
    from django.db import transaction

    from tests.alerts.models import AlertGroup
    from tests.alerts.signals import alert_processed

    with transaction.atomic():
        alert_processed.send(
            sender=AlertGroup, alert_group=item.alert, instance=item.instance, status=STATUS
        )


def create_rules(count: int, rng: random.Random) -> None:
    """``count`` active rules: specific ones on alertname/team/namespace/severity, and a
    catch-all (lowest priority), so every alert matches a rule and is notified."""
    from django_slack_rules.models import SlackIntegrationRule

    def rule(name: str, priority: int, criteria: dict[str, str], channel: str) -> Any:
        return SlackIntegrationRule(
            name=name,
            priority=priority,
            match_criteria=criteria,
            slack_channel=channel,
            message_template=TEMPLATE,
            resolved_message_template=RESOLVED_TEMPLATE,
        )

    rules = [rule("catch-all", 0, {}, "#alerts")]
    for i in range(1, count):
        criteria = {"alertname": rng.choice(ALERTNAMES)}
        extra = rng.choice(("team", "namespace", "severity", None))
        pool = {"team": TEAMS, "namespace": NAMESPACES, "severity": SEVERITIES}.get(extra or "")
        if extra and pool:
            criteria[extra] = rng.choice(pool)
        name = f"{criteria['alertname']} #{i:04d}"
        channel = f"#alerts-{criteria.get('team', 'ops')}"
        rules.append(rule(name, rng.randint(1, 100), criteria, channel))
    SlackIntegrationRule.objects.bulk_create(rules)  # bumps the rule-set version


def create_sentryhub_rules() -> None:
    """SentryHub's in-tree rules mirroring the package's: same names, priorities, channels
    and criteria (written ``labels__<name>``), the same message in SentryHub's names."""
    from django_slack_rules.models import SlackIntegrationRule
    from tests.legacy_integrations.models import SlackIntegrationRule as LegacyRule

    LegacyRule.objects.bulk_create(
        LegacyRule(
            name=rule.name,
            is_active=rule.is_active,
            priority=rule.priority,
            match_criteria={f"labels__{k}": v for k, v in rule.match_criteria.items()},
            slack_channel=rule.slack_channel,
            message_template=SENTRYHUB_TEMPLATE.replace("RULE_NAME", rule.name),
            resolved_message_template=SENTRYHUB_RESOLVED_TEMPLATE,
        )
        for rule in SlackIntegrationRule.objects.order_by("pk")
    )


def create_fan_out(count: int, rng: random.Random) -> list[Notification]:
    """Two rules that continue matching, ahead of every other, for alerts labelled
    ``fanout="yes"``, and ``count`` such alerts: three rules get each."""
    from django_slack_rules.models import SlackIntegrationRule
    from tests.alerts.models import AlertGroup

    SlackIntegrationRule.objects.bulk_create(
        SlackIntegrationRule(
            name=f"fan-out {n}",
            priority=1000 - n,
            match_criteria={"fanout": "yes"},
            continue_matching=True,
            slack_channel=f"#fan-out-{n}",
            message_template=TEMPLATE,
        )
        for n in (1, 2)
    )
    alerts = create_alerts("fanout", count, rng)
    for item in alerts:
        item.alert.labels = {**item.alert.labels, "fanout": "yes"}
    AlertGroup.objects.bulk_update([item.alert for item in alerts], ["labels"])
    return alerts


def create_alerts(prefix: str, count: int, rng: random.Random) -> list[Notification]:
    """``count`` firing alerts (SentryHub-shaped), each with its latest occurrence."""
    from django.utils import timezone

    now = timezone.now()
    labels = [
        {
            "alertname": rng.choice(ALERTNAMES),
            "severity": rng.choice(SEVERITIES),
            "instance": f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}:9100",
            "job": rng.choice(JOBS),
            "team": rng.choice(TEAMS),
            "namespace": rng.choice(NAMESPACES),
        }
        for _ in range(count)
    ]
    started = [now - datetime.timedelta(minutes=rng.randrange(1, 120)) for _ in labels]
    alerts = list(zip(labels, started))
    return bulk_alerts(
        prefix,
        alerts,
        lambda group: {
            "summary": f"{group.name} on {group.instance} for 5 minutes",
            "description": "Value is 93.4% (threshold 90%). <https://runbooks/x|Runbook>",
        },
    )


def bulk_alerts(
    prefix: str, alerts: Sequence[tuple[dict[str, str], Any]], annotations: Any
) -> list[Notification]:
    """Alert groups for ``alerts`` (labels, started at), fingerprints ``<prefix>-000001`` on,
    each with one occurrence whose annotations are ``annotations(group)``."""
    from tests.alerts.models import AlertGroup, AlertInstance

    AlertGroup.objects.bulk_create(
        AlertGroup(
            fingerprint=f"{prefix}-{i:06d}",
            name=labels["alertname"],
            labels=labels,
            severity=labels["severity"],
            instance=labels["instance"],
            current_status=STATUS,
        )
        for i, (labels, _) in enumerate(alerts)
    )
    groups = list(AlertGroup.objects.filter(fingerprint__startswith=f"{prefix}-").order_by("pk"))
    instances = AlertInstance.objects.bulk_create(
        AlertInstance(
            alert_group=group,
            status=STATUS,
            started_at=started,
            annotations=annotations(group),
        )
        for group, (_, started) in zip(groups, alerts)
    )
    if any(instance.pk is None for instance in instances):
        # bulk_create sets primary keys on PostgreSQL and SQLite >= 3.35; reload otherwise.
        by_group = {
            i.alert_group_id: i for i in AlertInstance.objects.filter(alert_group__in=groups)
        }
        instances = [by_group[group.pk] for group in groups]
    return [Notification(group, instance) for group, instance in zip(groups, instances)]
