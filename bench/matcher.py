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
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import scenario
from matcher_data import (
    CATCH_ALLS,
    Criteria,
    Labels,
    describe_mix,
    make_alerts,
    make_rules,
    replace_rules,
)
from scenario import TIMES, BenchmarkError

SPEEDUP_TARGET, GROWTH_TARGET, EDIT_TARGET_MS = 100.0, 3.0, 20.0
MIXES = ("equality", "matchers")


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

    started = time.perf_counter()
    with scenario.database(args, scenario.package_settings()) as description:
        scenario.header("matcher benchmark", description)
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
