"""What both delivery benchmarks send: rules, alerts, message templates, query counts.

``bench/delivery.py`` (in one process) and ``bench/worker_mode.py`` (``--worker``, through a
Celery worker) create the same kind of data with these functions, so their figures are
comparable. Nothing here is timed.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

TIMES = "\N{MULTIPLICATION SIGN}"
STATUS = "firing"

SEVERITIES = ("critical", "warning", "info")
TEAMS = tuple(f"team-{i:02d}" for i in range(1, 11))
NAMESPACES = tuple(f"ns-{i:03d}" for i in range(1, 41))
JOBS = ("node-exporter", "kube-state-metrics", "kubelet", "postgres-exporter", "api-server")
ALERTNAMES = tuple(
    f"{prefix}{suffix}"
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


class BenchmarkError(Exception):
    """The package did not send exactly what the baseline sent, once per alert."""


#: Transaction control, which Django logs with the queries (psycopg does not log BEGIN).
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def is_transaction_control(statement: str) -> bool:
    return statement.lstrip().upper().startswith(TRANSACTION_CONTROL)


@dataclass
class Queries:
    """SQL statements per notification, over the sampled notifications."""

    counts: list[tuple[int, int]] = field(default_factory=list)
    example: list[str] = field(default_factory=list)

    def add(self, statements: Sequence[str]) -> None:
        if not self.counts:
            self.example = list(statements)
        control = sum(1 for s in statements if is_transaction_control(s))
        self.counts.append((len(statements) - control, control))

    @property
    def queries(self) -> str:
        """Queries (not transaction control) per notification: "n", or "min-max"."""
        return spread(q for q, _ in self.counts)

    @property
    def control(self) -> str:
        return spread(c for _, c in self.counts)

    def __str__(self) -> str:
        return f"{self.queries} (+{self.control})"

    def __add__(self, other: Queries) -> Queries:
        total = Queries()
        total.counts = [(a + c, b + d) for (a, b), (c, d) in zip(self.counts, other.counts)]
        return total


def spread(values: Iterable[int]) -> str:
    values = list(values)
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


@dataclass(frozen=True)
class Notification:
    """One alert as the host holds it when it sends ``alert_processed``."""

    alert: Any
    instance: Any


# -- data ------------------------------------------------------------------------------


def create_rules(count: int, rng: random.Random) -> None:
    """``count`` active rules: specific ones on alertname/team/namespace, and a catch-all
    (lowest priority), so every alert matches a rule and is notified."""
    from django_slack_rules.models import SlackIntegrationRule

    rules = [
        SlackIntegrationRule(
            name="catch-all",
            priority=0,
            match_criteria={},
            slack_channel="#alerts",
            message_template=TEMPLATE,
            resolved_message_template=RESOLVED_TEMPLATE,
        )
    ]
    for i in range(1, count):
        criteria = {"alertname": rng.choice(ALERTNAMES)}
        extra = rng.choice(("team", "namespace", "severity", None))
        if extra == "team":
            criteria["team"] = rng.choice(TEAMS)
        elif extra == "namespace":
            criteria["namespace"] = rng.choice(NAMESPACES)
        elif extra == "severity":
            criteria["severity"] = rng.choice(SEVERITIES)
        rules.append(
            SlackIntegrationRule(
                name=f"{criteria['alertname']} #{i:04d}",
                priority=rng.randint(1, 100),
                match_criteria=criteria,
                slack_channel=f"#alerts-{criteria.get('team', 'ops')}",
                message_template=TEMPLATE,
                resolved_message_template=RESOLVED_TEMPLATE,
            )
        )
    SlackIntegrationRule.objects.bulk_create(rules)  # bumps the rule-set version


def create_fan_out(count: int, rng: random.Random) -> list[Notification]:
    """Two rules that continue matching, ahead of every other, for alerts labelled
    ``fanout="yes"``, and ``count`` such alerts: three rules get each (the two, then the
    rule the alert would get anyway)."""
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

    from tests.alerts.models import AlertGroup, AlertInstance

    now = timezone.now()
    groups = []
    for i in range(count):
        name = rng.choice(ALERTNAMES)
        severity = rng.choice(SEVERITIES)
        instance = f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}:9100"
        labels = {
            "alertname": name,
            "severity": severity,
            "instance": instance,
            "job": rng.choice(JOBS),
            "team": rng.choice(TEAMS),
            "namespace": rng.choice(NAMESPACES),
        }
        groups.append(
            AlertGroup(
                fingerprint=f"{prefix}-{i:06d}",
                name=name,
                labels=labels,
                severity=severity,
                instance=instance,
                current_status=STATUS,
            )
        )
    AlertGroup.objects.bulk_create(groups)
    groups = list(AlertGroup.objects.filter(fingerprint__startswith=f"{prefix}-").order_by("pk"))
    instances = AlertInstance.objects.bulk_create(
        [
            AlertInstance(
                alert_group=group,
                status=STATUS,
                started_at=now - datetime.timedelta(minutes=rng.randrange(1, 120)),
                annotations={
                    "summary": f"{group.name} on {group.instance} for 5 minutes",
                    "description": "Value is 93.4% (threshold 90%). <https://runbooks/x|Runbook>",
                },
            )
            for group in groups
        ]
    )
    if any(instance.pk is None for instance in instances):
        # bulk_create sets primary keys on PostgreSQL and SQLite >= 3.35; reload otherwise.
        by_group = {
            i.alert_group_id: i for i in AlertInstance.objects.filter(alert_group__in=groups)
        }
        instances = [by_group[group.pk] for group in groups]
    return [Notification(group, instance) for group, instance in zip(groups, instances)]
