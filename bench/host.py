"""The test host the delivery benchmarks run in (SentryHub's shapes): its rules and alerts
(SentryHub's in-tree rules mirror the package's: both variants send the same messages), and
its signal through both receivers, the package's and SentryHub's (``sentryhub_baseline.py``).
"""

from __future__ import annotations

import collections
import datetime
import random
import time
from collections.abc import Sequence
from typing import Any

from scenario import BenchmarkError, Queries

STATUS = "firing"
SEVERITIES = ("critical", "warning", "info")
TEAMS = tuple(f"team-{i:02d}" for i in range(1, 11))
NAMESPACES = tuple(f"ns-{i:03d}" for i in range(1, 41))
JOBS = ("node-exporter", "kube-state-metrics", "kubelet", "postgres-exporter", "api-server")
NAMES = ("NodeDown", "HighCPU", "HighMemory", "DiskFull", "PodCrashLooping", "HighLatency")
ALERTNAMES = tuple(name + s for name in NAMES for s in ("", "Critical", "Sustained", "Canary"))
#: A realistic rule template: conditions, filters, labels and annotations.
TEMPLATE = """\
{% if severity == "critical" %}<!here> {% endif %}:fire: *{{ alertname }}* ({{ severity }}) \
on `{{ instance }}`
{{ summary }}
{% if description %}> {{ description }}
{% endif %}Team: {{ labels.team|default:"unowned" }} · namespace {{ labels.namespace|default:"-" }}
Started {{ started_at|date:"Y-m-d H:i" }} UTC · rule {{ rule.name }}"""
#: The same message in the names SentryHub's task offers (model instances; no ``rule``).
SENTRYHUB_TEMPLATE = """\
{% if alert_group.severity == "critical" %}<!here> {% endif %}:fire: *{{ alert_group.name }}* \
({{ alert_group.severity }}) on `{{ alert_group.instance }}`
{{ summary }}
{% if description %}> {{ description }}
{% endif %}Team: {{ alert_group.labels.team|default:"unowned" }} · namespace \
{{ alert_group.labels.namespace|default:"-" }}
Started {{ latest_instance.started_at|date:"Y-m-d H:i" }} UTC · rule RULE_NAME"""

PACKAGE, SENTRYHUB = "package", "SentryHub"
VARIANTS = (PACKAGE, SENTRYHUB)
#: The package's receiver for an alert three rules get (fan-out, which SentryHub cannot do).
PACKAGE_FAN_OUT = "package, 3 rules"
#: The Celery names of the tasks the receivers queue.
TASKS = {
    PACKAGE: "django_slack_rules.tasks.process_slack_for_alert_group",
    SENTRYHUB: "sentryhub_baseline.process_slack_for_alert_group",
}


#: One alert as the host holds it when it sends ``alert_processed``: the group, its occurrence.
Notification = collections.namedtuple("Notification", "alert instance")


def notify(item: Notification, signal: Any = None) -> float:
    """The host processes an alert: in a transaction of its own it sends ``alert_processed``
    (or ``signal``), whose receivers match and queue their tasks at commit. The µs of send()."""
    from django.db import transaction

    from tests.alerts.models import AlertGroup
    from tests.alerts.signals import alert_processed

    with transaction.atomic():
        started = time.perf_counter()
        (signal or alert_processed).send(
            sender=AlertGroup, alert_group=item.alert, instance=item.instance, status=STATUS
        )
        return (time.perf_counter() - started) * 1e6


def create_rules(count: int, rng: random.Random) -> None:
    """``count`` rules on alertname and another label (one a catch-all), mirrored by SentryHub's
    in-tree rules; and two rules that continue matching for ``fanout="yes"`` (three rules)."""
    from django_slack_rules.models import SlackIntegrationRule as Rule
    from tests.legacy_integrations.models import SlackIntegrationRule as LegacyRule

    pools = {"team": TEAMS, "namespace": NAMESPACES, "severity": SEVERITIES}
    resolved = ":white_check_mark: *{{ alertname }}* resolved"
    rules, theirs = [], []
    for i in range(count):
        criteria = {"alertname": rng.choice(ALERTNAMES)} if i else {}
        if i and (extra := rng.choice((*pools, None))):
            criteria[extra] = rng.choice(pools[extra])
        name = f"{criteria.get('alertname', 'catch-all')} #{i:04d}"
        same = {"name": name, "priority": rng.randint(1, 100) if i else 0}
        same["slack_channel"] = f"#alerts-{criteria.get('team', 'ops')}"
        rules.append(Rule(**same, match_criteria=criteria, message_template=TEMPLATE))
        rules[-1].resolved_message_template = resolved
        theirs.append(
            LegacyRule(**same, match_criteria={f"labels__{k}": v for k, v in criteria.items()})
        )
        theirs[-1].message_template = SENTRYHUB_TEMPLATE.replace("RULE_NAME", name)
        theirs[-1].resolved_message_template = resolved.replace("alertname", "alert_group.name")
    fan_out = {"match_criteria": {"fanout": "yes"}, "continue_matching": True, "priority": 999}
    rules += [Rule(name=f"fan-out {n}", message_template=TEMPLATE, **fan_out) for n in (1, 2)]
    Rule.objects.bulk_create(rules)
    LegacyRule.objects.bulk_create(theirs)


def random_labels(count: int, rng: random.Random, **extra: str) -> list[dict[str, str]]:
    pools = {"alertname": ALERTNAMES, "severity": SEVERITIES, "job": JOBS, "team": TEAMS}
    pools["namespace"] = NAMESPACES
    return [
        {k: rng.choice(pool) for k, pool in pools.items()}
        | {"instance": f"10.0.{rng.randrange(256)}.{rng.randrange(1, 255)}:9100", **extra}
        for _ in range(count)
    ]


def create_alerts(
    prefix: str, labels: int | Sequence[dict[str, str]], rng: random.Random, **extra: str
) -> list[Notification]:
    """Firing alert groups with ``labels`` (or that many random ones, with ``extra``),
    fingerprints ``<prefix>-000001`` on, each with its latest occurrence."""
    from django.utils import timezone

    from tests.alerts.models import AlertGroup, AlertInstance

    if isinstance(labels, int):
        labels = random_labels(labels, rng, **extra)
    groups = AlertGroup.objects.bulk_create(
        AlertGroup(
            fingerprint=f"{prefix}-{i:06d}",
            name=each["alertname"],
            labels=each,
            severity=each["severity"],
            instance=each["instance"],
            current_status=STATUS,
        )
        for i, each in enumerate(labels)
    )
    now = timezone.now()
    instances = AlertInstance.objects.bulk_create(
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
    )
    return [Notification(group, instance) for group, instance in zip(groups, instances)]


#: One task message, as a receiver queued it for an alert.
Message = collections.namedtuple("Message", "task args kwargs")


def signal_path(
    alerts: Sequence[Notification],
    counted: Sequence[Notification] = (),
    skip: int = 0,
    fan_out: Sequence[Notification] = (),
) -> tuple[dict[str, Any], dict[str, dict[Any, Message]]]:
    """Every alert through both receivers (alternating the first), each in a host transaction
    of its own, and one of ``fan_out`` through the package's after each: the µs of ``send()``
    and of the transaction after the first ``skip``, the queries of ``counted``; the message
    each receiver queued per alert (Celery's ``before_task_publish``)."""
    import sentryhub_baseline
    from celery.signals import before_task_publish
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    signals = {PACKAGE: None, PACKAGE_FAN_OUT: None, SENTRYHUB: sentryhub_baseline.alert_processed}
    times = {v: {"send": [], "transaction": [], "queries": Queries()} for v in signals}
    messages: dict[str, dict[Any, Message]] = {variant: {} for variant in VARIANTS}
    counted_ids, published = {item.alert.pk for item in counted}, []

    def record(sender: Any = None, body: Any = None, headers: Any = None, **_: Any) -> None:
        published.append(Message((headers or {}).get("task", sender), tuple(body[0]), body[1]))

    def send(variant: str, item: Notification, queued: int, timed: bool) -> None:
        published.clear()
        if item.alert.pk in counted_ids:
            with CaptureQueriesContext(connection) as capture:
                notify(item, signals[variant])
            times[variant]["queries"].add([q["sql"] for q in capture.captured_queries])
        else:
            started, send_us = time.perf_counter(), notify(item, signals[variant])
            if timed:
                times[variant]["send"].append(send_us)
                times[variant]["transaction"].append((time.perf_counter() - started) * 1e6)
        task = TASKS[SENTRYHUB if variant == SENTRYHUB else PACKAGE]
        if len(published) != queued or any(m.task != task for m in published):
            raise BenchmarkError(f"{variant}: its receiver queued {published}, not {queued}")

    before_task_publish.connect(record, weak=False)
    try:
        for i, item in enumerate(alerts):
            for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                send(variant, item, 1, i >= skip)
                messages[variant][item.alert.pk] = published[0]
            if i < len(fan_out):
                send(PACKAGE_FAN_OUT, fan_out[i], 3, i >= skip)
    finally:
        before_task_publish.disconnect(record)
    return times, messages
