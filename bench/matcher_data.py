"""The rules and sample alerts of ``bench/matcher.py``, in its two mixes (bench/README.md)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

SEVERITIES = ("critical", "warning", "info")
NAMESPACES = tuple(f"ns-{i:03d}" for i in range(1, 251))  # rules name the first 50 only
JOBS = "node-exporter kube-state-metrics kubelet cadvisor blackbox-exporter postgres-exporter"
JOBS += " redis-exporter nginx-ingress api-server celery-worker kafka-exporter mysqld-exporter"
RULE_VALUES: dict[str, Sequence[str]] = {
    "severity": SEVERITIES,
    "env": ("prod", "staging", "dev"),
    "team": tuple(f"team-{i:02d}" for i in range(1, 21)),
    "namespace": NAMESPACES[:50],
    "job": JOBS.split(),
    "cluster": ("prod-eu-1", "prod-eu-2", "prod-us-1", "staging-eu-1", "dev-eu-1", "dev-us-1"),
}
ALERT_VALUES = {**RULE_VALUES, "namespace": NAMESPACES}
PREFIXES = "NodeDown HighCPU HighMemory DiskFull PodCrashLooping TargetDown HighLatency"
PREFIXES += " HighErrorRate CertExpiring ReplicationLag QueueBacklog OOMKilled"
CATCH_ALLS = 3
#: The matchers mix: rules without an equality (checked for every alert), whatever N.
ROUTING_RULES = (
    ("route: heartbeats", 100, ['alertname=~"Watchdog|InfoInhibitor"'], False),
    ("route: pager", 95, ['severity=~"critical|page"', 'env=~"prod|staging"'], True),
    ("route: dev clusters", 12, ['cluster=~"dev-.*"', 'severity!~"info|warning"'], False),
    ("route: unowned namespaces", 11, ['namespace=~"ns-(0[5-9]|1)[0-9]{2}"'], True),
    ("route: no team", 10, ['team=""', 'severity!="info"'], False),
)
#: Negative matchers the matchers mix adds, each on a label the rule does not name.
NEGATIVES = {"env": 'env!="dev"', "severity": 'severity!="info"', "cluster": 'cluster!~"dev-.*"'}
NEGATIVES["job"] = 'job!~"blackbox-.*|cadvisor"'


@dataclass(frozen=True)
class RuleSpec:
    name: str
    priority: int
    criteria: Any  # a dict of labels, or a list of matcher texts
    continue_matching: bool = False
    sample: dict[str, str] = field(default_factory=dict)  # labels the rule matches


def alertname(i: int) -> str:
    prefixes = PREFIXES.split()
    return f"{prefixes[i % len(prefixes)]}{i:04d}"


def make_rules(n: int, rng: random.Random, mix: str) -> list[RuleSpec]:
    """The catch-alls, the routing rules (matchers mix) and specific rules: 80% on an
    alertname (of a pool of n/2) and 0-2 more labels, the rest on a namespace and 1-2 more."""
    names = [alertname(i) for i in range(max(1, n // 2))]
    empty = {} if mix == "equality" else []
    specs = [RuleSpec(f"catch-all-{i}", rng.randint(0, 10), empty) for i in range(CATCH_ALLS)]
    routing = ROUTING_RULES[: max(0, n - CATCH_ALLS - 1)] if mix == "matchers" else ()
    specs += [RuleSpec(name, p, list(texts), c) for name, p, texts, c in routing]
    for i in range(1, n - len(specs) + 1):
        criteria = {}
        if rng.random() < 0.8:
            criteria["alertname"] = rng.choice(names)
            keys = rng.sample(sorted(RULE_VALUES), rng.choices((0, 1, 2), weights=(4, 4, 2))[0])
        else:  # an ownership rule: a namespace, narrowed by one or two more labels
            others = [k for k in sorted(RULE_VALUES) if k != "namespace"]
            keys = ["namespace", *rng.sample(others, rng.randint(1, 2))]
        criteria.update((key, rng.choice(RULE_VALUES[key])) for key in keys)
        head = criteria.get("alertname") or criteria["namespace"]
        spec = RuleSpec(f"{head} #{i:05d}", rng.randint(0, 100), criteria, sample=dict(criteria))
        if mix == "matchers" and rng.random() < 0.2:
            spec = with_matchers(spec, rng)
        if mix == "matchers" and rng.random() < 0.05:
            spec = replace(spec, continue_matching=True)
        specs.append(spec)
    return specs


def with_matchers(spec: RuleSpec, rng: random.Random) -> RuleSpec:
    """``spec`` in the list form: its anchor stays an equality, each other pair becomes a
    regex half of the time, and one negative matcher on another label is added."""
    anchor = "alertname" if "alertname" in spec.sample else "namespace"
    texts = [f'{anchor}="{spec.sample[anchor]}"']
    for key, value in spec.sample.items():
        if key == anchor:
            continue
        if rng.random() >= 0.5:
            texts.append(f'{key}="{value}"')
        elif key == "job":
            texts.append(f'job=~"{value[:4]}.*"')
        elif key == "cluster":
            texts.append(f'cluster=~"{value.rsplit("-", 1)[0]}-[0-9]+"')
        else:
            other = rng.choice([v for v in RULE_VALUES[key] if v != value] or [value])
            texts.append(f'{key}=~"{value}|{other}"')
    negatives = [text for key, text in NEGATIVES.items() if key not in spec.sample]
    return replace(spec, criteria=[*texts, rng.choice(negatives or ['env!="dev"'])])


def make_alerts(count: int, rules: Sequence[RuleSpec], rng: random.Random) -> list[Any]:
    """Alerts of 5-8 labels; some carry a rule's criteria, most match only a catch-all."""
    pool, specific = max(1, len(rules) // 2), [r.sample for r in rules if r.sample]
    alerts = []
    for _ in range(count):
        labels = {
            "alertname": alertname(rng.randrange(pool, 3 * pool + 100)),  # no rule names these
            "severity": rng.choice(SEVERITIES),
            "instance": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(255)}:9100",
        }
        for key in rng.sample(("job", "team", "namespace", "env", "cluster"), rng.randint(2, 5)):
            labels[key] = rng.choice(ALERT_VALUES[key])
        if specific and rng.random() < 0.2:
            labels.update(rng.choice(specific))
        alerts.append(labels)
    return alerts


def replace_rules(specs: Sequence[RuleSpec]) -> None:
    """Delete every rule and create ``specs`` (``bulk_create`` moves the rule-set version)."""
    from django.db import connection, transaction

    from django_slack_rules.models import SlackIntegrationRule, note_change

    with transaction.atomic(), connection.cursor() as cursor:
        table = connection.ops.quote_name(SlackIntegrationRule._meta.db_table)
        cursor.execute(f"DELETE FROM {table}")
        note_change(connection.alias, None)  # around the ORM: every process rebuilds
    SlackIntegrationRule.objects.bulk_create(
        [
            SlackIntegrationRule(
                name=spec.name,
                priority=spec.priority,
                match_criteria=spec.criteria,
                continue_matching=spec.continue_matching,
                slack_channel=f"#alerts-{spec.name.split()[0].lower()}"[:80],
                message_template=":fire: *{{ alertname }}* {{ summary }} ({{ severity }})",
            )
            for spec in specs
        ],
        batch_size=500,
    )
