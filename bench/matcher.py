"""Benchmark the rule matcher against a naive "load every rule" baseline.

Run from the repository root with the dev virtualenv::

    .venv/bin/python bench/matcher.py              # SQLite; 100, 1,000 and 10,000 rules
    .venv/bin/python bench/matcher.py --quick      # smaller samples: a few seconds
    .venv/bin/python bench/matcher.py --postgres   # PostgreSQL on 127.0.0.1:5432
    .venv/bin/python bench/matcher.py --check      # exit 1 when a target is missed
    .venv/bin/python bench/matcher.py --mix matchers   # one mix only

Two mixes of rules, each at every size N:

* ``equality``: N realistic active rules in the object form (Alertmanager-like criteria
  of 1-3 label pairs, plus 3 low-priority catch-all ``{}`` rules);
* ``matchers``: the same, but 20% of the rules are in the list form with regex (``=~``)
  and negative (``!=``, ``!~``) matchers next to their equality, 5% continue matching,
  and 5 routing rules have no equality at all (``severity=~"critical|page"``, …), so with
  the 3 catch-alls 8 rules are checked for every alert, whatever N.

For each it generates sample alerts and measures per alert:

* the package: ``SlackRuleMatcherService().find_matching_rules(labels)`` (what the signal
  receiver calls) with a warm index: a version check, the in-memory match and fan-out;
* the index alone (``RuleIndex.select``), to show what the package time is made of;
* the baseline: load every active rule from the database for each alert, keep the ones
  whose matchers all match (each distinct criteria parsed once and cached, so the
  baseline pays for loading and looping, not for compiling regexes), sort by
  (-priority, name) and fan out.

It also times the next match after a rule change: after one rule is edited (the index is
updated with that rule: the package's way), and after the rule set's version moved without
a logged change (the whole index is rebuilt: the way before, and the fallback now), and
checks that the package and the baseline pick the same rules for every sampled alert, edits
included (exit 2 if not).

Targets, for each mix: the package is at least 100x faster than the baseline at the
largest size, its time grows at most 3x from the smallest to the largest size, and the
next match after one edit takes at most 20 ms at the largest size.
"""

from __future__ import annotations

import argparse
import functools
import gc
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import django
from databases import postgres_database, sqlite_database
from django.conf import settings

if TYPE_CHECKING:
    from django_slack_rules.models import SlackIntegrationRule

Labels = dict[str, str]
Criteria = Union[Labels, list[str]]

SPEEDUP_TARGET = 100.0
GROWTH_TARGET = 3.0
EDIT_TARGET_MS = 20.0
TIMES = "\N{MULTIPLICATION SIGN}"

SEVERITIES = ("critical", "warning", "info")
ENVS = ("prod", "staging", "dev")
TEAMS = tuple(f"team-{i:02d}" for i in range(1, 21))
#: Namespaces seen in alerts; rules only ever name the first 50 (most have no owner rule).
ALL_NAMESPACES = tuple(f"ns-{i:03d}" for i in range(1, 251))
RULE_NAMESPACES = ALL_NAMESPACES[:50]
JOBS = (
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
)
CLUSTERS = ("prod-eu-1", "prod-eu-2", "prod-us-1", "staging-eu-1", "dev-eu-1", "dev-us-1")
ALERT_PREFIXES = (
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
)

RULE_VALUES: dict[str, Sequence[str]] = {
    "severity": SEVERITIES,
    "env": ENVS,
    "team": TEAMS,
    "namespace": RULE_NAMESPACES,
    "job": JOBS,
    "cluster": CLUSTERS,
}
ALERT_VALUES: dict[str, Sequence[str]] = {**RULE_VALUES, "namespace": ALL_NAMESPACES}
OPTIONAL_ALERT_KEYS = ("job", "team", "namespace", "env", "cluster")

CATCH_ALLS = 3
#: Share of rules keyed on an alertname (the rest are namespace ownership rules).
ALERTNAME_RULE_SHARE = 0.8
#: Share of sample alerts built from a rule's criteria (the rest are random).
TARGETED_ALERT_SHARE = 0.2

MIXES = ("equality", "matchers")
#: The matchers mix: share of the specific rules with regex and negative matchers.
MATCHER_RULE_SHARE = 0.2
#: The matchers mix: share of the specific rules that continue matching.
CONTINUE_SHARE = 0.05
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


class MismatchError(Exception):
    """The package and the baseline disagree on a winner."""


@dataclass(frozen=True)
class Profile:
    """How much to sample (the default run, or ``--quick``)."""

    alerts: int
    rounds: int
    build_rounds: int
    #: Rules edited one at a time, each timed by the next match.
    edit_rounds: int
    #: Rules the baseline may load in total per size: it times budget // N alerts.
    baseline_row_budget: int
    baseline_min_alerts: int


DEFAULT_PROFILE = Profile(
    alerts=500,
    rounds=5,
    build_rounds=3,
    edit_rounds=9,
    baseline_row_budget=300_000,
    baseline_min_alerts=20,
)
QUICK_PROFILE = Profile(
    alerts=100,
    rounds=2,
    build_rounds=1,
    edit_rounds=3,
    baseline_row_budget=40_000,
    baseline_min_alerts=4,
)


@dataclass(frozen=True)
class RuleSpec:
    name: str
    priority: int
    criteria: Criteria
    continue_matching: bool = False
    #: Labels the rule matches (targeted alerts carry them).
    sample: Labels = field(default_factory=dict)


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
    composition: str = ""

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


def make_rules(n: int, rng: random.Random, mix: str = "equality") -> list[RuleSpec]:
    """``n`` rules: 3 catch-alls (low priority, as fallbacks are) and n - 3 specific rules;
    in the matchers mix, 5 of those are routing rules without an equality."""
    names = [alertname(i) for i in range(max(1, n // 2))]
    empty: Criteria = {} if mix == "equality" else []
    specs = [
        RuleSpec(name=f"catch-all-{i}", priority=rng.randint(0, 10), criteria=empty)
        for i in range(1, CATCH_ALLS + 1)
    ]
    routing = ROUTING_RULES if mix == "matchers" else ()
    specs += [
        RuleSpec(name=name, priority=priority, criteria=list(texts), continue_matching=cont)
        for name, priority, texts, cont in routing[: max(0, n - CATCH_ALLS - 1)]
    ]
    for i in range(1, n - len(specs) + 1):
        criteria: Labels = {}
        if rng.random() < ALERTNAME_RULE_SHARE:
            criteria["alertname"] = rng.choice(names)
            keys = rng.sample(sorted(RULE_VALUES), rng.choices((0, 1, 2), weights=(4, 4, 2))[0])
        else:
            # An ownership rule: a namespace, narrowed by one or two more labels.
            others = [k for k in sorted(RULE_VALUES) if k != "namespace"]
            keys = ["namespace", *rng.sample(others, rng.randint(1, 2))]
        criteria.update((key, rng.choice(RULE_VALUES[key])) for key in keys)
        head = criteria.get("alertname") or criteria["namespace"]
        spec = RuleSpec(
            name=f"{head} #{i:05d}",
            priority=rng.randint(0, 100),
            criteria=criteria,
            sample=dict(criteria),
        )
        if mix == "matchers" and rng.random() < MATCHER_RULE_SHARE:
            spec = with_matchers(spec, rng)
        if mix == "matchers" and rng.random() < CONTINUE_SHARE:
            spec = RuleSpec(spec.name, spec.priority, spec.criteria, True, spec.sample)
        specs.append(spec)
    return specs


def regex_for(key: str, value: str, rng: random.Random) -> str:
    """A regex matcher on ``key`` that ``value`` matches, as operators write them."""
    if key == "job":
        return f'job=~"{value[:4]}.*"'
    if key == "cluster":
        return f'cluster=~"{value.rsplit("-", 1)[0]}-[0-9]+"'
    other = rng.choice([v for v in RULE_VALUES[key] if v != value] or [value])
    return f'{key}=~"{value}|{other}"'


def with_matchers(spec: RuleSpec, rng: random.Random) -> RuleSpec:
    """``spec`` in the list form: its anchor stays an equality, each other pair becomes a
    regex half of the time, and one negative matcher on another label is added."""
    criteria = spec.sample
    anchor = "alertname" if "alertname" in criteria else "namespace"
    texts = [f'{anchor}="{criteria[anchor]}"']
    for key, value in criteria.items():
        if key != anchor:
            texts.append(regex_for(key, value, rng) if rng.random() < 0.5 else f'{key}="{value}"')
    free = [text for key, text in NEGATIVES if key not in criteria]
    texts.append(rng.choice(free or ['env!="dev"']))
    return RuleSpec(spec.name, spec.priority, texts, spec.continue_matching, spec.sample)


def make_alerts(count: int, rules: Sequence[RuleSpec], rng: random.Random) -> list[Labels]:
    """Alerts of 5-8 labels; some carry a rule's criteria, most match only a catch-all."""
    pool = max(1, len(rules) // 2)
    specific = [r.sample for r in rules if r.sample]
    alerts = []
    for _ in range(count):
        labels: Labels = {
            # Names past the rules' pool: alerts that no rule names.
            "alertname": alertname(rng.randrange(pool, 3 * pool + 100)),
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
    with_regex_or_negative = sum(
        isinstance(s.criteria, list) and any(op in t for t in s.criteria for op in ("~", "!="))
        for s in specs
    )
    unanchored = sum(not s.sample for s in specs)
    continuing = sum(s.continue_matching for s in specs)
    n = len(specs)
    return (
        f"{with_regex_or_negative / n:.1%} of rules with a regex or negative matcher "
        f"({with_regex_or_negative:,}), {unanchored} without an equality (checked for "
        f"every alert), {continuing / n:.1%} continue matching"
    )


# -- Django ----------------------------------------------------------------------------


def setup_django(database: dict[str, Any]) -> None:
    from django.core.management import call_command

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-not-a-secret",
        USE_TZ=True,
        TIME_ZONE="UTC",
        # auth: the package's clicks from Slack and their user links refer to users.
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_slack_rules"],
        DATABASES={"default": database},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def replace_rules(specs: Sequence[RuleSpec]) -> None:
    """Delete every rule and create ``specs`` (``bulk_create`` moves the rule-set version)."""
    from django.db import connection, transaction

    from django_slack_rules.models import SlackIntegrationRule, note_change

    table = connection.ops.quote_name(SlackIntegrationRule._meta.db_table)
    with transaction.atomic():
        with connection.cursor() as cursor:
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
                resolved_message_template=":white_check_mark: *{{ alertname }}* resolved",
            )
            for spec in specs
        ],
        batch_size=500,
    )
    assert SlackIntegrationRule.objects.filter(is_active=True).count() == len(specs)


# -- measurements ----------------------------------------------------------------------


@functools.cache
def _parsed(form: str, items: tuple[Any, ...]) -> tuple[Any, ...]:
    from django_slack_rules.matchers import parse_criteria

    return parse_criteria(dict(items) if form == "object" else list(items))


def baseline_matchers(criteria: Criteria) -> tuple[Any, ...]:
    """The rule's matchers, each distinct criteria parsed once (a cache any loop would keep)."""
    if isinstance(criteria, dict):
        return _parsed("object", tuple(sorted(criteria.items())))
    return _parsed("list", tuple(criteria))


def naive_select(
    rules: Sequence[SlackIntegrationRule], labels: Mapping[str, str]
) -> list[SlackIntegrationRule]:
    """The baseline's matching: every rule whose matchers all match, best first, fanned out."""
    from django_slack_rules.matchers import fan_out, matches_all

    matching = [
        rule for rule in rules if matches_all(baseline_matchers(rule.match_criteria), labels)
    ]
    matching.sort(key=lambda rule: (-rule.priority, rule.name))
    return fan_out(matching)


def baseline_find(labels: Mapping[str, str]) -> list[SlackIntegrationRule]:
    """The naive matcher: load every active rule from the database for each alert."""
    from django_slack_rules.models import SlackIntegrationRule

    return naive_select(list(SlackIntegrationRule.objects.filter(is_active=True)), labels)


def median_us_per_call(
    fn: Callable[[Labels], object], alerts: Sequence[Labels], rounds: int
) -> float:
    """The median over ``rounds`` passes of the mean time per call, in microseconds."""
    samples = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for labels in alerts:
            fn(labels)
        samples.append((time.perf_counter() - start) / len(alerts) * 1e6)
    return statistics.median(samples)


def pks_of(rules: Sequence[Any]) -> list[Any]:
    return [rule.pk for rule in rules]


def run_size(n: int, profile: Profile, seed: int, mix: str = "equality") -> SizeResult:
    from django_slack_rules.models import RuleSetVersion, SlackIntegrationRule
    from django_slack_rules.services.slack_matcher import SlackRuleMatcherService

    if n < CATCH_ALLS + 1:
        raise SystemExit(f"--sizes: each size must be at least {CATCH_ALLS + 1}")
    rng = random.Random(f"{seed}:{n}:{mix}" if mix != "equality" else f"{seed}:{n}")
    specs = make_rules(n, rng, mix)
    alerts = make_alerts(profile.alerts, specs, rng)
    progress(f"{n:>7,} rules ({mix}): creating…")
    replace_rules(specs)  # moves the rule-set version: the next match rebuilds the index
    service = SlackRuleMatcherService()

    progress(f"{n:>7,} rules ({mix}): timing the next match after a rebuild…")
    build_samples = []
    for i in range(profile.build_rounds):
        RuleSetVersion.bump()  # a version move the log cannot explain: a full rebuild
        start = time.perf_counter()
        service.find_matching_rules(alerts[i % len(alerts)])
        build_samples.append((time.perf_counter() - start) * 1e3)
    index = service.get_index()
    if index.size != n:
        raise MismatchError(f"the index holds {index.size} rules, expected {n}")

    progress(f"{n:>7,} rules ({mix}): timing the next match after one edit…")
    edit_samples = []
    pks = sorted(SlackIntegrationRule.objects.values_list("pk", flat=True))
    for i, pk in enumerate(rng.sample(pks, min(profile.edit_rounds, len(pks)))):
        rule = SlackIntegrationRule.objects.get(pk=pk)
        rule.priority = (rule.priority + 37) % 101  # it may now win, or lose, elsewhere
        rule.save()
        start = time.perf_counter()
        service.find_matching_rules(alerts[i % len(alerts)])
        edit_samples.append((time.perf_counter() - start) * 1e3)
    index = service.get_index()

    if index.skipped:
        raise MismatchError(f"rules left out of the index: {index.skipped[:3]}")

    progress(f"{n:>7,} rules ({mix}): timing the package…")
    service.find_matching_rules(alerts[0])  # warm-up: the index is current
    package_us = median_us_per_call(service.find_matching_rules, alerts, profile.rounds)
    index_us = median_us_per_call(index.select, alerts, profile.rounds)
    if service.get_index() is not index:
        raise MismatchError("the index was rebuilt while timing: the rule set changed under us")

    sample = alerts[: max(profile.baseline_min_alerts, profile.baseline_row_budget // n)]
    progress(f"{n:>7,} rules ({mix}): timing the baseline on {len(sample)} alerts…")
    baseline_find(sample[0])  # warm-up, as for the package
    timed: list[Any] = []
    baseline_us = median_us_per_call(
        lambda labels: timed.append(pks_of(baseline_find(labels))), sample, 1
    )

    progress(f"{n:>7,} rules ({mix}): checking the rules picked on all {len(alerts)} alerts…")
    rules = list(SlackIntegrationRule.objects.filter(is_active=True))
    unanchored = {spec.name for spec in specs if not spec.sample}
    winners: Counter[str] = Counter()
    for i, labels in enumerate(alerts):
        got = service.find_matching_rules(labels)
        want = naive_select(rules, labels)
        if pks_of(got) != pks_of(want) or (i < len(timed) and timed[i] != pks_of(got)):
            raise MismatchError(
                f"{n:,} rules ({mix}), alert {labels}: the package picked {describe(got)}, "
                f"the baseline {describe(want)}"
            )
        if not want:
            winners["none"] += 1
        else:
            winners["unanchored" if want[0].name in unanchored else "specific"] += 1
        winners["fan-out"] += len(want) > 1

    return SizeResult(
        mix=mix,
        rules=n,
        build_ms=statistics.median(build_samples),
        edit_ms=statistics.median(edit_samples),
        package_us=package_us,
        index_us=index_us,
        baseline_us=baseline_us,
        baseline_alerts=len(sample),
        winners=winners,
        composition=describe_mix(specs),
    )


def describe(rules: Sequence[Any]) -> str:
    if not rules:
        return "no rule"
    return ", ".join(
        f"{rule.name!r} (priority {rule.priority}, criteria {rule.match_criteria}, "
        f"continue {rule.continue_matching})"
        for rule in rules
    )


# -- report ----------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def print_table(results: Sequence[SizeResult]) -> None:
    largest = max(results, key=lambda r: r.rules)
    print(f"{largest.mix} mix at {largest.rules:,} rules: {largest.composition}")
    header = (
        f"{'rules':>8}  {'rebuild ms':>10}  {'package µs/alert':>16}  {'(index µs)':>10}  "
        f"{'baseline µs/alert':>17}  {'(alerts)':>8}  {'speedup':>9}  "
        "first rule (specific/unanchored/none), fan-out"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.rules:>8,}  {r.build_ms:>10.1f}  {r.package_us:>16.1f}  {r.index_us:>10.2f}  "
            f"{r.baseline_us:>17,.0f}  {r.baseline_alerts:>8}  {r.speedup:>8,.0f}{TIMES}  "
            f"{r.winners['specific']}/{r.winners['unanchored']}/{r.winners['none']}, "
            f"{r.winners['fan-out']}"
        )
    print()
    print("the next match after a rule change (ms), this run:")
    header = f"{'rules':>8}  {'full rebuild':>12}  {'one edit':>8}  {'edit / rebuild':>14}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.rules:>8,}  {r.build_ms:>12.1f}  {r.edit_ms:>8.2f}  "
            f"{r.edit_ratio:>13.1%}  (1/{1 / r.edit_ratio:,.0f})"
        )


def print_targets(results: Sequence[SizeResult]) -> bool:
    """Print each target with PASS/FAIL; return whether all passed."""
    smallest = min(results, key=lambda r: r.rules)
    largest = max(results, key=lambda r: r.rules)
    growth = largest.package_us / smallest.package_us
    mix = f"[{largest.mix} mix] "
    checks = [
        (
            f"{mix}speedup at {largest.rules:,} rules: {largest.speedup:,.0f}{TIMES} "
            f"(target ≥ {SPEEDUP_TARGET:.0f}{TIMES})",
            largest.speedup >= SPEEDUP_TARGET,
        ),
        (
            f"{mix}package time at {largest.rules:,} vs {smallest.rules:,} rules: "
            f"{growth:.2f}{TIMES} (target ≤ {GROWTH_TARGET:.0f}{TIMES})",
            growth <= GROWTH_TARGET,
        ),
        (
            f"{mix}next match after one edit at {largest.rules:,} rules: "
            f"{largest.edit_ms:.2f} ms, {largest.edit_ratio:.1%} of a rebuild "
            f"({largest.build_ms:.0f} ms) (target ≤ {EDIT_TARGET_MS:.0f} ms)",
            largest.edit_ms <= EDIT_TARGET_MS,
        ),
    ]
    for text, passed in checks:
        print(f"{text}  {'PASS' if passed else 'FAIL'}")
    return all(passed for _, passed in checks)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="100,1000,10000",
        help="comma-separated numbers of active rules (default: 100,1000,10000)",
    )
    parser.add_argument(
        "--mix",
        default=",".join(MIXES),
        help="comma-separated rule mixes: equality, matchers (default: both)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller samples: a few seconds")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--seed", type=int, default=20240611, help="random seed (default: %(default)s)"
    )
    parser.add_argument("--postgres", action="store_true", help="use PostgreSQL instead of SQLite")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument(
        "--pg-db", default="dsr_bench", help="database to create and drop (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes: comma-separated integers, e.g. 100,1000,10000")
    if not args.sizes:
        parser.error("--sizes: give at least one size")
    args.mix = [m.strip() for m in args.mix.split(",") if m.strip()]
    unknown = sorted(set(args.mix) - set(MIXES))
    if unknown or not args.mix:
        parser.error(f"--mix: choose from {', '.join(MIXES)} (got {', '.join(unknown) or 'none'})")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    profile = QUICK_PROFILE if args.quick else DEFAULT_PROFILE
    database = (
        postgres_database(setup_django, args.pg_host, args.pg_port, args.pg_user, args.pg_db)
        if args.postgres
        else sqlite_database(setup_django)
    )
    started = time.perf_counter()
    results: dict[str, list[SizeResult]] = {}
    with database as description:
        print(
            f"django-slack-rules matcher benchmark: Python {platform.python_version()}, "
            f"Django {django.get_version()}, {description}"
        )
        print(
            f"{profile.alerts} sample alerts, median of {profile.rounds} rounds; "
            f"seed {args.seed}{'; --quick' if args.quick else ''}\n"
        )
        try:
            for mix in args.mix:
                results[mix] = [run_size(n, profile, args.seed, mix) for n in args.sizes]
        except MismatchError as exc:
            print(f"\nMISMATCH: {exc}", file=sys.stderr)
            return 2
    passed = True
    for mix_results in results.values():
        print_table(mix_results)
        print()
    for mix_results in results.values():
        passed = print_targets(mix_results) and passed
    print(f"\n(total {time.perf_counter() - started:.1f} s)")
    return 1 if args.check and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
