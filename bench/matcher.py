"""The rule matcher against a naive "load every rule for each alert" baseline.

At each size N (100, 1,000 and 10,000 active rules) and in two mixes (``equality``: object
criteria; ``matchers``: 20% regex and negative matchers, 5% continue matching, 5 routing rules
without an equality), per sample alert: the **package**
(``SlackRuleMatcherService().find_matching_rules(labels)``, a warm index), the **index**
alone, and the **baseline** (every active rule loaded, each one's matchers checked, sorted and
fanned out); the next match after a **rebuild** and after **one edit**. Exit 2 when the
package and the baseline pick different rules. Targets: 100 times the baseline and at most 3 times
growth at the largest size; at most 20 ms for the next match after one edit.
"""

from __future__ import annotations

import argparse
import functools
import platform
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Union

import scenario
from scenario import TIMES, BenchmarkError

Labels = dict[str, str]
Criteria = Union[Labels, list[str]]
SPEEDUP_TARGET, GROWTH_TARGET, EDIT_TARGET_MS = 100.0, 3.0, 20.0
MIXES = ("equality", "matchers")

SEVERITIES = ("critical", "warning", "info")
#: Namespaces seen in alerts; rules only ever name the first 50 (most have no owner rule).
ALL_NAMESPACES = tuple(f"ns-{i:03d}" for i in range(1, 251))
RULE_VALUES: dict[str, Sequence[str]] = {
    "severity": SEVERITIES,
    "env": ("prod", "staging", "dev"),
    "team": tuple(f"team-{i:02d}" for i in range(1, 21)),
    "namespace": ALL_NAMESPACES[:50],
    "job": tuple(
        [
            "node-exporter",
            "kube-state-metrics",
            "kubelet",
            "cadvisor",
            "blackbox-exporter",
            "postgres-exporter",
            "redis-exporter",
            "nginx-ingress",
            "api-server",
            "celery-worker",
            "kafka-exporter",
            "mysqld-exporter",
        ]
    ),
    "cluster": ("prod-eu-1", "prod-eu-2", "prod-us-1", "staging-eu-1", "dev-eu-1", "dev-us-1"),
}
ALERT_VALUES: dict[str, Sequence[str]] = {**RULE_VALUES, "namespace": ALL_NAMESPACES}
OPTIONAL_ALERT_KEYS = ("job", "team", "namespace", "env", "cluster")
ALERT_PREFIXES = tuple(
    [
        "NodeDown",
        "HighCPU",
        "HighMemory",
        "DiskFull",
        "PodCrashLooping",
        "TargetDown",
        "HighLatency",
        "HighErrorRate",
        "CertExpiring",
        "ReplicationLag",
        "QueueBacklog",
        "OOMKilled",
    ]
)
CATCH_ALLS = 3
ALERTNAME_RULE_SHARE = 0.8  # the rest are namespace ownership rules
TARGETED_ALERT_SHARE = 0.2  # sample alerts built from a rule's criteria (the rest are random)
MATCHER_RULE_SHARE = 0.2  # matchers mix: specific rules with regex and negative matchers
CONTINUE_SHARE = 0.05  # matchers mix: specific rules that continue matching
#: The matchers mix: rules without an equality (checked for every alert), whatever N.
ROUTING_RULES: tuple[tuple[str, int, list[str], bool], ...] = (
    ("route: heartbeats", 100, ['alertname=~"Watchdog|InfoInhibitor"'], False),
    ("route: pager", 95, ['severity=~"critical|page"', 'env=~"prod|staging"'], True),
    ("route: dev clusters", 12, ['cluster=~"dev-.*"', 'severity!~"info|warning"'], False),
    ("route: unowned namespaces", 11, ['namespace=~"ns-(0[5-9]|1)[0-9]{2}"'], True),
    ("route: no team", 10, ['team=""', 'severity!="info"'], False),
)
#: Negative matchers the matchers mix adds, each on a label the rule does not name.
NEGATIVES = (
    ("env", 'env!="dev"'),
    ("severity", 'severity!="info"'),
    ("cluster", 'cluster!~"dev-.*"'),
    ("job", 'job!~"blackbox-.*|cadvisor"'),
)


@dataclass(frozen=True)
class RuleSpec:
    name: str
    priority: int
    criteria: Criteria
    continue_matching: bool = False
    sample: Labels = field(default_factory=dict)  # labels the rule matches


@dataclass
class SizeResult:
    mix: str
    rules: int
    build_ms: float
    edit_ms: float
    package_us: float
    index_us: float
    baseline_us: float
    baseline_alerts: int
    winners: Counter[str]
    composition: str

    @property
    def speedup(self) -> float:
        return self.baseline_us / self.package_us

    @property
    def edit_ratio(self) -> float:
        """The next match after one edit, as a share of the next match after a rebuild."""
        return self.edit_ms / self.build_ms


# -- data ------------------------------------------------------------------------------


def alertname(i: int) -> str:
    return f"{ALERT_PREFIXES[i % len(ALERT_PREFIXES)]}{i:04d}"


def make_rules(n: int, rng: random.Random, mix: str) -> list[RuleSpec]:
    """3 catch-alls (low priority, as fallbacks are) and n - 3 specific rules; in the
    matchers mix, 5 of those are routing rules without an equality."""
    names = [alertname(i) for i in range(max(1, n // 2))]
    empty: Criteria = {} if mix == "equality" else []
    specs = [
        RuleSpec(f"catch-all-{i}", rng.randint(0, 10), empty) for i in range(1, CATCH_ALLS + 1)
    ]
    routing = ROUTING_RULES if mix == "matchers" else ()
    specs += [
        RuleSpec(name, p, list(texts), c)
        for name, p, texts, c in routing[: max(0, n - CATCH_ALLS - 1)]
    ]
    for i in range(1, n - len(specs) + 1):
        criteria: Labels = {}
        if rng.random() < ALERTNAME_RULE_SHARE:
            criteria["alertname"] = rng.choice(names)
            keys = rng.sample(sorted(RULE_VALUES), rng.choices((0, 1, 2), weights=(4, 4, 2))[0])
        else:  # an ownership rule: a namespace, narrowed by one or two more labels
            others = [k for k in sorted(RULE_VALUES) if k != "namespace"]
            keys = ["namespace", *rng.sample(others, rng.randint(1, 2))]
        criteria.update((key, rng.choice(RULE_VALUES[key])) for key in keys)
        head = criteria.get("alertname") or criteria["namespace"]
        spec = RuleSpec(f"{head} #{i:05d}", rng.randint(0, 100), criteria, sample=dict(criteria))
        if mix == "matchers" and rng.random() < MATCHER_RULE_SHARE:
            spec = with_matchers(spec, rng)
        if mix == "matchers" and rng.random() < CONTINUE_SHARE:
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
    texts.append(
        rng.choice([text for key, text in NEGATIVES if key not in spec.sample] or ['env!="dev"'])
    )
    return replace(spec, criteria=texts)


def make_alerts(count: int, rules: Sequence[RuleSpec], rng: random.Random) -> list[Labels]:
    """Alerts of 5-8 labels; some carry a rule's criteria, most match only a catch-all."""
    pool = max(1, len(rules) // 2)
    specific = [r.sample for r in rules if r.sample]
    alerts = []
    for _ in range(count):
        labels: Labels = {
            "alertname": alertname(rng.randrange(pool, 3 * pool + 100)),  # no rule names these
            "severity": rng.choice(SEVERITIES),
            "instance": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}:9100",
        }
        for key in rng.sample(OPTIONAL_ALERT_KEYS, rng.randint(2, 5)):
            labels[key] = rng.choice(ALERT_VALUES[key])
        if specific and rng.random() < TARGETED_ALERT_SHARE:
            labels.update(rng.choice(specific))
        alerts.append(labels)
    return alerts


def describe_mix(specs: Sequence[RuleSpec]) -> str:
    """How many rules have regex or negative matchers, no equality, continue matching."""
    n = len(specs)
    special = sum(
        isinstance(s.criteria, list) and any(op in t for t in s.criteria for op in ("~", "!="))
        for s in specs
    )
    continuing = sum(s.continue_matching for s in specs)
    return (
        f"{special / n:.1%} of rules with a regex or negative matcher ({special:,}), "
        f"{sum(not s.sample for s in specs)} without an equality (checked for every alert), "
        f"{continuing / n:.1%} continue matching"
    )


def replace_rules(specs: Sequence[RuleSpec]) -> None:
    """Delete every rule and create ``specs`` (``bulk_create`` moves the rule-set version)."""
    from django.db import connection, transaction

    from django_slack_rules.models import SlackIntegrationRule, note_change

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {connection.ops.quote_name(SlackIntegrationRule._meta.db_table)}"
        )
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
                resolved_message_template=":white_check_mark: *{{ alertname }}* resolved",
            )
            for spec in specs
        ],
        batch_size=500,
    )
    assert SlackIntegrationRule.objects.filter(is_active=True).count() == len(specs)


# -- the baseline and the measurements --------------------------------------------------


@functools.cache
def parsed(criteria: tuple[Any, ...], form: str) -> tuple[Any, ...]:
    """A rule's matchers, each distinct criteria parsed once (a cache any loop would keep)."""
    from django_slack_rules.matchers import parse_criteria

    return parse_criteria(dict(criteria) if form == "object" else list(criteria))


def naive_select(rules: Sequence[Any], labels: Mapping[str, str]) -> list[Any]:
    """Every rule whose matchers all match, best first, fanned out."""
    from django_slack_rules.matchers import fan_out, matches_all

    def matchers(criteria: Criteria) -> tuple[Any, ...]:
        if isinstance(criteria, dict):
            return parsed(tuple(sorted(criteria.items())), "object")
        return parsed(tuple(criteria), "list")

    matching = [rule for rule in rules if matches_all(matchers(rule.match_criteria), labels)]
    return fan_out(sorted(matching, key=lambda rule: (-rule.priority, rule.name)))


def baseline_find(labels: Mapping[str, str]) -> list[Any]:
    """The naive matcher: load every active rule from the database for each alert."""
    from django_slack_rules.models import SlackIntegrationRule

    return naive_select(list(SlackIntegrationRule.objects.filter(is_active=True)), labels)


def median_us_per_call(
    fn: Callable[[Labels], object], alerts: Sequence[Labels], rounds: int
) -> float:
    return statistics.median(scenario.us_per_call(fn, alerts) for _ in range(rounds))


def next_match_ms(service: Any, labels: Labels) -> float:
    start = time.perf_counter()
    service.find_matching_rules(labels)
    return (time.perf_counter() - start) * 1e3


def run_size(n: int, args: argparse.Namespace, mix: str) -> SizeResult:
    from django_slack_rules.models import RuleSetVersion, SlackIntegrationRule
    from django_slack_rules.services.slack_matcher import SlackRuleMatcherService

    rng = random.Random(f"{args.seed}:{n}:{mix}" if mix != "equality" else f"{args.seed}:{n}")
    specs = make_rules(n, rng, mix)
    alerts = make_alerts(args.alerts, specs, rng)
    step = f"{n:>7,} rules ({mix}):"
    scenario.progress(f"{step} creating…")
    replace_rules(specs)  # moves the rule-set version: the next match rebuilds the index
    service = SlackRuleMatcherService()

    scenario.progress(f"{step} timing the next match after a rebuild…")
    build_ms = []
    for i in range(args.build_rounds):
        RuleSetVersion.bump()  # a version move the log cannot explain: a full rebuild
        build_ms.append(next_match_ms(service, alerts[i % len(alerts)]))
    if service.get_index().size != n:
        raise BenchmarkError(f"the index holds {service.get_index().size} rules, expected {n}")

    scenario.progress(f"{step} timing the next match after one edit…")
    edit_ms = []
    pks = sorted(SlackIntegrationRule.objects.values_list("pk", flat=True))
    for i, pk in enumerate(rng.sample(pks, min(args.edit_rounds, len(pks)))):
        rule = SlackIntegrationRule.objects.get(pk=pk)
        rule.priority = (rule.priority + 37) % 101  # it may now win, or lose, elsewhere
        rule.save()
        edit_ms.append(next_match_ms(service, alerts[i % len(alerts)]))
    index = service.get_index()
    if index.skipped:
        raise BenchmarkError(f"rules left out of the index: {index.skipped[:3]}")

    scenario.progress(f"{step} timing the package…")
    service.find_matching_rules(alerts[0])  # warm-up: the index is current
    package_us = median_us_per_call(service.find_matching_rules, alerts, args.rounds)
    index_us = median_us_per_call(index.select, alerts, args.rounds)
    if service.get_index() is not index:
        raise BenchmarkError("the index was rebuilt while timing: the rule set changed under us")

    sample = alerts[: max(args.baseline_min_alerts, args.baseline_row_budget // n)]
    scenario.progress(f"{step} timing the baseline on {len(sample)} alerts…")
    baseline_find(sample[0])  # warm-up, as for the package
    timed: list[list[Any]] = []
    baseline_us = median_us_per_call(
        lambda labels: timed.append([r.pk for r in baseline_find(labels)]), sample, 1
    )

    scenario.progress(f"{step} checking the rules picked on all {len(alerts)} alerts…")
    rules = list(SlackIntegrationRule.objects.filter(is_active=True))
    unanchored = {spec.name for spec in specs if not spec.sample}
    winners: Counter[str] = Counter()
    for i, labels in enumerate(alerts):
        got, want = service.find_matching_rules(labels), naive_select(rules, labels)
        picked = [r.pk for r in got]
        if picked != [r.pk for r in want] or (i < len(timed) and timed[i] != picked):
            raise BenchmarkError(
                f"{n:,} rules ({mix}), alert {labels}: the package picked {describe(got)}, "
                f"the baseline {describe(want)}"
            )
        first = "none" if not want else "unanchored" if want[0].name in unanchored else "specific"
        winners[first] += 1
        winners["fan-out"] += len(want) > 1
    return SizeResult(
        mix, n, statistics.median(build_ms), statistics.median(edit_ms), package_us, index_us,
        baseline_us, len(sample), winners, describe_mix(specs),
    )  # fmt: skip


def describe(rules: Sequence[Any]) -> str:
    return (
        ", ".join(
            f"{r.name!r} (priority {r.priority}, criteria {r.match_criteria}, continue {r.continue_matching})"
            for r in rules
        )
        or "no rule"
    )


def report(results: Sequence[SizeResult]) -> None:
    largest = max(results, key=lambda r: r.rules)
    print(f"{largest.mix} mix at {largest.rules:,} rules: {largest.composition}")
    scenario.table(
        [("rules", 8), ("rebuild ms", 10), ("package µs/alert", 16), ("(index µs)", 10),
         ("baseline µs/alert", 17), ("(alerts)", 8), ("speedup", 9),
         ("first rule (specific/unanchored/none), fan-out", 0)],
        ([f"{r.rules:,}", f"{r.build_ms:.1f}", f"{r.package_us:.1f}", f"{r.index_us:.2f}",
          f"{r.baseline_us:,.0f}", r.baseline_alerts, f"{r.speedup:,.0f}{TIMES}",
          f"{r.winners['specific']}/{r.winners['unanchored']}/{r.winners['none']}, {r.winners['fan-out']}"]
         for r in results),
    )  # fmt: skip
    print("\nthe next match after a rule change (ms), this run:")
    scenario.table(
        [("rules", 8), ("full rebuild", 12), ("one edit", 8), ("edit / rebuild", 14)],
        ([f"{r.rules:,}", f"{r.build_ms:.1f}", f"{r.edit_ms:.2f}",
          f"{r.edit_ratio:>13.1%}  (1/{1 / r.edit_ratio:,.0f})"] for r in results),
    )  # fmt: skip


def targets(results: Sequence[SizeResult]) -> bool:
    """Print each target with PASS/FAIL; whether all passed."""
    small, large = min(results, key=lambda r: r.rules), max(results, key=lambda r: r.rules)
    growth = large.package_us / small.package_us
    mix, at = f"[{large.mix} mix]", f"at {large.rules:,} rules"
    checks = {
        f"{mix} speedup {at}: {large.speedup:,.0f}{TIMES} (target ≥ {SPEEDUP_TARGET:.0f}{TIMES})":
            large.speedup >= SPEEDUP_TARGET,
        f"{mix} package time at {large.rules:,} vs {small.rules:,} rules: {growth:.2f}{TIMES} "
        f"(target ≤ {GROWTH_TARGET:.0f}{TIMES})": growth <= GROWTH_TARGET,
        f"{mix} next match after one edit {at}: {large.edit_ms:.2f} ms, {large.edit_ratio:.1%} "
        f"of a rebuild ({large.build_ms:.0f} ms) (target ≤ {EDIT_TARGET_MS:.0f} ms)":
            large.edit_ms <= EDIT_TARGET_MS,
    }  # fmt: skip
    for text, passed in checks.items():
        print(f"{text}  {'PASS' if passed else 'FAIL'}")
    return all(checks.values())


def run(args: argparse.Namespace) -> int:
    import django

    started = time.perf_counter()
    with scenario.database(args, scenario.package_settings()) as description:
        print(
            f"django-slack-rules matcher benchmark: Python {platform.python_version()}, "
            f"Django {django.get_version()}, {description}"
        )
        print(
            f"{args.alerts} sample alerts, median of {args.rounds} rounds; "
            f"seed {args.seed}{'; --quick' if args.quick else ''}\n"
        )
        results = {mix: [run_size(n, args, mix) for n in args.sizes] for mix in args.mix}
    for mix_results in results.values():
        report(mix_results)
        print()
    passed = [targets(mix_results) for mix_results in results.values()]
    print(f"\n(total {time.perf_counter() - started:.1f} s)")
    return 1 if args.check and not all(passed) else 0


def parse_args() -> argparse.Namespace:
    parser = scenario.options(
        __doc__, pg_db="dsr_bench", quick="smaller samples: a few seconds", sqlite=True
    )
    parser.add_argument(
        "--sizes", default="100,1000,10000", help="active rules, comma-separated (%(default)s)"
    )
    parser.add_argument(
        "--mix", default=",".join(MIXES), help="rule mixes: equality, matchers (both)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    args.sizes = scenario.numbers(parser, "sizes", args.sizes)
    if min(args.sizes) < CATCH_ALLS + 1:
        parser.error(f"--sizes: each size must be at least {CATCH_ALLS + 1}")
    args.mix = [m.strip() for m in args.mix.split(",") if m.strip()]
    if not args.mix or set(args.mix) - set(MIXES):
        parser.error(f"--mix: choose from {', '.join(MIXES)}")
    # Samples: alerts, rounds, rebuilds and edits timed; the baseline loads at most a budget
    # of rules per size (it times budget // N alerts, at least a minimum).
    samples = (100, 2, 1, 3, 40_000, 4) if args.quick else (500, 5, 3, 9, 300_000, 20)
    (args.alerts, args.rounds, args.build_rounds, args.edit_rounds, args.baseline_row_budget,
     args.baseline_min_alerts) = samples  # fmt: skip
    return args


if __name__ == "__main__":
    scenario.main(run, parse_args())
