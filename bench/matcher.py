"""The rule matcher against a naive one that loads every rule for each alert (as SentryHub's
receiver does), at 100, 1,000 and 10,000 rules in two mixes (``matcher_data.py``): per alert,
the next match after a rebuild and after one edit. Exit 2 when they pick different rules."""

from __future__ import annotations

import argparse
import functools
import gc
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import scenario
from matcher_data import CATCH_ALLS, make_alerts, make_rules, replace_rules
from scenario import TIMES, BenchmarkError, median

SPEEDUP_TARGET, GROWTH_TARGET, EDIT_TARGET_MS = 100.0, 3.0, 20.0
MIXES = ("equality", "matchers")


@functools.cache
def parsed(criteria: tuple[Any, ...], form: type) -> tuple[Any, ...]:
    """A rule's matchers, each distinct criteria parsed once (a cache any loop would keep)."""
    from django_slack_rules.matchers import parse_criteria

    return parse_criteria(form(criteria))


def naive_select(rules: Sequence[Any], labels: Mapping[str, str]) -> list[Any]:
    """Every rule whose matchers all match, best first, fanned out."""
    from django_slack_rules.matchers import fan_out, matches_all

    def matchers(criteria: Any) -> tuple[Any, ...]:
        if isinstance(criteria, dict):
            return parsed(tuple(sorted(criteria.items())), dict)
        return parsed(tuple(criteria), list)

    matching = [rule for rule in rules if matches_all(matchers(rule.match_criteria), labels)]
    return fan_out(sorted(matching, key=lambda rule: (-rule.priority, rule.name)))


def baseline_find(labels: Mapping[str, str]) -> list[Any]:
    """The naive matcher: load every active rule from the database for each alert."""
    from django_slack_rules.models import SlackIntegrationRule

    return naive_select(list(SlackIntegrationRule.objects.filter(is_active=True)), labels)


def us(fn: Callable[[Any], object], alerts: Sequence[Any], rounds: int = 1) -> float:
    """Mean µs per call of ``fn`` over ``alerts`` in one pass, the median of ``rounds``."""
    each = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for labels in alerts:
            fn(labels)
        each.append((time.perf_counter() - start) / len(alerts) * 1e6)
    return median(each)


def run_size(n: int, args: argparse.Namespace, mix: str) -> dict[str, Any]:
    from django_slack_rules.models import RuleSetVersion, SlackIntegrationRule
    from django_slack_rules.services.slack_matcher import SlackRuleMatcherService

    rng = random.Random(f"{args.seed}:{n}:{mix}" if mix != "equality" else f"{args.seed}:{n}")
    specs = make_rules(n, rng, mix)
    alerts = make_alerts(args.alerts, specs, rng)
    step = f"{n:>7,} rules ({mix}):"
    scenario.progress(f"{step} creating, timing rebuilds and edits…")
    replace_rules(specs)  # moves the rule-set version: the next match rebuilds the index
    service = SlackRuleMatcherService()
    match = service.find_matching_rules
    build_ms = []
    for i in range(args.build_rounds):
        RuleSetVersion.bump()  # a version move the log cannot explain: a full rebuild
        build_ms.append(us(match, [alerts[i % len(alerts)]]) / 1e3)
    if service.get_index().size != n:
        raise BenchmarkError(f"the index holds {service.get_index().size} rules, expected {n}")
    edit_ms = []
    pks = sorted(SlackIntegrationRule.objects.values_list("pk", flat=True))
    for i, pk in enumerate(rng.sample(pks, min(args.edit_rounds, len(pks)))):
        rule = SlackIntegrationRule.objects.get(pk=pk)
        rule.priority = (rule.priority + 37) % 101  # it may now win, or lose, elsewhere
        rule.save()
        edit_ms.append(us(match, [alerts[i % len(alerts)]]) / 1e3)
    if (index := service.get_index()).skipped:  # a rule it could not compile
        raise BenchmarkError(f"rules left out of the index: {index.skipped[:3]}")

    scenario.progress(f"{step} timing the package…")
    match(alerts[0])  # warm-up: the index is current
    package_us, index_us = us(match, alerts, args.rounds), us(index.select, alerts, args.rounds)
    if service.get_index() is not index:
        raise BenchmarkError("the index was rebuilt while timing: the rule set changed under us")
    # The baseline loads every rule per alert: it times fewer alerts at larger sizes.
    sample = alerts[: max(args.baseline_min_alerts, args.baseline_row_budget // n)]
    scenario.progress(f"{step} timing the baseline on {len(sample)} alerts…")
    baseline_find(sample[0])  # warm-up, as for the package
    timed: list[list[Any]] = []
    baseline_us = us(lambda labels: timed.append([r.pk for r in baseline_find(labels)]), sample)

    scenario.progress(f"{step} checking the rules picked on all {len(alerts)} alerts…")
    rules = list(SlackIntegrationRule.objects.filter(is_active=True))
    fan_outs = 0
    for i, labels in enumerate(alerts):
        got, want = [r.pk for r in match(labels)], [r.pk for r in naive_select(rules, labels)]
        if got != want or (i < len(timed) and timed[i] != got):
            raise BenchmarkError(
                f"{n:,} rules ({mix}), {labels}: the package picked {got}, the baseline {want}"
            )
        fan_outs += len(want) > 1
    result = {"mix": mix, "rules": n, "rebuild": median(build_ms), "edit": median(edit_ms)}
    result |= {"package": package_us, "index": index_us, "baseline": baseline_us}
    return result | {"sample": len(sample), "fan_outs": fan_outs}


def report(results: Sequence[dict[str, Any]]) -> int:
    """Print the mix's table and its targets; how many were missed."""
    small, large = results[0], results[-1]
    for r in results:
        r.update(speedup=r["baseline"] / r["package"], share=r["edit"] / r["rebuild"])
    print(f"{large['mix']} mix; the next match after a rule change (ms), this run:")
    titles = ["rules", "full rebuild", "one edit", "edit / rebuild", "package µs/alert"]
    titles += ["(index µs)", "baseline µs/alert", "(alerts)", "speedup", "fan-out alerts"]
    cells = "{rules:,} {rebuild:.1f} {edit:.2f} {share:.1%} {package:.1f} {index:.2f}"
    cells += " {baseline:,.0f} {sample} {speedup:,.0f}" + TIMES + " {fan_outs}"
    scenario.table(titles, [cells.format_map(r).split() for r in results])
    growth, mix = large["package"] / small["package"], f"[{large['mix']} mix]"
    at, edit_ms, speedup = f"at {large['rules']:,} rules", large["edit"], large["speedup"]
    return scenario.targets(
        {
            f"{mix} speedup {at}: {speedup:,.0f}{TIMES} (target ≥ {SPEEDUP_TARGET:.0f}"
            f"{TIMES})": speedup >= SPEEDUP_TARGET,
            f"{mix} package time {at} vs {small['rules']:,}: {growth:.2f}{TIMES} (target ≤ "
            f"{GROWTH_TARGET:.0f}{TIMES})": growth <= GROWTH_TARGET,
            f"{mix} next match after one edit {at}: {edit_ms:.2f} ms, {large['share']:.1%} of "
            f"a rebuild (target ≤ {EDIT_TARGET_MS:.0f} ms)": edit_ms <= EDIT_TARGET_MS,
        }
    )


def run(args: argparse.Namespace) -> int:
    if min(args.sizes) <= CATCH_ALLS or set(args.mix) - set(MIXES):
        raise SystemExit(f"--sizes: at least {CATCH_ALLS + 1}; --mix: {', '.join(MIXES)}")
    # alerts, rounds, rebuilds and edits timed; the baseline loads at most a budget of rules
    # per size (it times budget // size alerts, at least a minimum)
    quick = (100, 2, 1, 3, 40_000, 4) if args.quick else (500, 5, 3, 9, 300_000, 20)
    args.alerts, args.rounds, args.build_rounds, args.edit_rounds, *baseline = quick
    args.baseline_row_budget, args.baseline_min_alerts = baseline
    with scenario.database(args, scenario.package_settings()) as description:
        scenario.header("matcher benchmark", description)
        print(f"{args.alerts} sample alerts, median of {args.rounds} rounds; seed {args.seed}\n")
        results = {mix: [run_size(n, args, mix) for n in args.sizes] for mix in args.mix}
    missed = 0
    for mix_results in results.values():
        missed += report(mix_results)
        print()
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    scenario.main(
        run,
        scenario.options(
            __doc__,
            pg_db="dsr_bench",
            sqlite=True,
            sizes=("100,1000,10000", "100,1000,10000", "active rules, at least 4"),
            mix=("equality,matchers", "equality,matchers", "rule mixes"),
        ),
    )
