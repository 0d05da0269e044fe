"""Messages per second through a real Celery worker: the package's task against SentryHub's own
(``sentryhub_baseline.py``), same worker, broker, database, fake Slack, alerts and (mirrored)
rules, in A/B rounds; the tasks probed inside the worker (``worker_probe.py``); and the host's
signal through both receivers (``host.py``)."""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Sequence
from typing import Any

import host
import scenario
import sentryhub_baseline as sentryhub
from host import PACKAGE, PACKAGE_FAN_OUT, SENTRYHUB, VARIANTS
from scenario import TIMES, Queries, compare, median, spread, table
from worker import deliver, probe_reports, worker, worker_host

#: The worker's pace unless --no-pacing: no batch comes near it, so every delivery takes its
#: destination's slot (one UPDATE, as in production) and none ever waits.
PACE = "1000000"
CPU_PARTS = ("the worker's processes", "PostgreSQL's backends", "the whole machine")


def run(args: argparse.Namespace) -> int:
    sizes = [*((6, 4) if args.quick else (40, 20)), *[args.messages] * args.rounds]
    sink = f"dsr-bench-{os.getpid()}-signal-path"  # what this process queues: recorded, not run
    with worker_host(args, "delivery benchmark", publish_to=sink) as run:
        pace = f"CHANNEL_RATE {int(PACE):,}/s, CHANNEL_BURST {int(PACE):,}: "
        pace += "each delivery takes its slot"
        pace = 'off (SLACK_RULES["CHANNEL_RATE"] = None)' if args.no_pacing else pace
        print(
            f"worker: prefork, 2 processes, CONN_MAX_AGE {args.conn_max_age}; {args.rules} "
            f"rules; pacing: {pace}\nbaseline: SentryHub's Slack task as of "
            f"{sentryhub.SENTRYHUB_REPOSITORY}@{sentryhub.SENTRYHUB_COMMIT[:12]}"
        )
        rng = random.Random(args.seed)
        host.create_rules(args.rules, rng)
        batches = [host.create_alerts(f"b{i}", n, rng) for i, n in enumerate(sizes)]
        fan_out = host.create_alerts("fanout", sum(sizes), rng, fanout="yes")
        scenario.progress(f"host signal path: {sum(sizes)} alerts through both receivers…")
        every = [item for batch in batches for item in batch]
        signal, messages = host.signal_path(every, batches[1], sizes[0], fan_out)
        env = {"DSR_BENCH_CHANNEL_RATE": PACE}
        env |= {"DSR_BENCH_CHANNEL_BURST": PACE, "DSR_BENCH_CONN_MAX_AGE": str(args.conn_max_age)}
        if args.no_pacing:
            env |= {"DSR_BENCH_CHANNEL_RATE": "none", "DSR_BENCH_CHANNEL_BURST": "1"}
        with worker(run, args.nginx, **env) as target:
            print(f"Slack: {target}; {args.messages} messages per variant and round\n")

            def send(variant: str, alerts: Sequence[Any], probe: bool = False) -> Any:
                batch = [messages[variant][item.alert.pk] for item in alerts]
                return deliver(run, variant, batch, probe)

            scenario.progress("warming up the worker, probing its tasks…")
            for variant in VARIANTS:
                send(variant, batches[0])
            probes = {}
            for v in VARIANTS:
                sample = send(v, batches[1], probe=True)["sample"]
                probes[v] = probe(probe_reports(run, len(batches[1])), sample)
            rounds = []
            for number, alerts in enumerate(batches[2:], 1):
                order = VARIANTS if number % 2 else VARIANTS[::-1]
                scenario.progress(f"round {number}/{args.rounds}: {', '.join(order)}…")
                rounds.append({v: send(v, alerts) for v in order})
    report(rounds, probes, signal, args)
    return 0


def probe(reports: list[dict[str, Any]], sample: dict[str, Any]) -> dict[str, Any]:
    """The probed tasks: their queries and connections, each statement's median ms (when
    every task ran the same statements), a message Slack received."""
    queries, times = Queries(), []
    for each in reports:
        queries.add(each["statements"])
    if len({len(r["executed"]) for r in reports}) == 1:  # the same statements in each task
        each = iter(zip(*([ms for _, ms, _ in r["executed"]] for r in reports)))
        for statement in queries.example:
            control = scenario.is_transaction_control(statement)
            times.append("" if control else f"{median(next(each, ())):.2f} ms")
    return {
        "queries": queries,
        "times": times,
        "connections": spread(r["connections"] for r in reports),
        "task_ms": f"{median(r['task_ms'] for r in reports):.2f}",
        "count": len(reports),
        "sample": sample,
    }


def report(rounds: list[Any], probes: dict[str, Any], signal: Any, args: Any) -> None:
    def row(title: object, first: str, rounds: Sequence[dict[str, Any]]) -> list[object]:
        rate = {v: median(r[v]["rate"] for r in rounds) for v in VARIANTS}
        worker = [f"{median(r[v]['cpu'][0] for r in rounds):.1f} ms" for v in VARIANTS]
        ratio = f"{rate[PACKAGE] / rate[SENTRYHUB]:.2f}{TIMES}"
        return [title, first, *(f"{rate[v]:,.1f}" for v in VARIANTS), ratio, *worker]

    print(f"throughput: {args.messages} messages per variant and round, through the worker")
    titles = ["round", "first", "package msg/s", "SentryHub msg/s", "ratio", "package CPU"]
    rows = [row(n, next(iter(r)), [r]) for n, r in enumerate(rounds, 1)]
    table([*titles, "SentryHub CPU"], [*rows, None, median_row := row("median", "", rounds)])
    ratios = median(r[PACKAGE]["rate"] / r[SENTRYHUB]["rate"] for r in rounds)
    print(
        f"\npackage/SentryHub throughput: {median_row[4]} (median of {len(rounds)} rounds); "
        f"median of the rounds' ratios {ratios:.2f}{TIMES}\n\nCPU ms per message (medians)"
    )
    cpu = {
        p: [f"{median(r[v]['cpu'][i] for r in rounds):.1f} ms" for v in VARIANTS]
        for i, p in enumerate(CPU_PARTS)
    }
    compare(VARIANTS, cpu)
    print(f"\nper delivery, inside the worker (probe: {probes[PACKAGE]['count']} tasks each)")
    compare(
        VARIANTS,
        {
            "queries (+transaction control)": lambda v: probes[v]["queries"],
            "database connections opened": lambda v: probes[v]["connections"],
            "task time (prerun to postrun), ms": lambda v: probes[v]["task_ms"],
        },
    )
    print("\nhost signal path, in this process (µs per alert, median)")
    us = {v: f"{median(times['send']):,.0f}" for v, times in signal.items()}
    compare(
        VARIANTS,
        {
            "alert_processed.send()": us.get,
            "host transaction with commit": lambda v: f"{median(signal[v]['transaction']):,.0f}",
            "queries (+transaction control)": lambda v: signal[v]["queries"],
            "alert_processed.send(), 3 rules": [us[PACKAGE_FAN_OUT], "-"],
        },
    )
    one, three = (
        median(signal[v]["send"]) / median(signal[SENTRYHUB]["send"])
        for v in (PACKAGE, PACKAGE_FAN_OUT)
    )
    print(
        f"receiver/SentryHub's handler, alert_processed.send(): 1 rule {one:.2f}{TIMES} (budget "
        f"1.00{TIMES}), 3 rules {three:.2f}{TIMES} (budget 1.50{TIMES})"
    )
    for variant in VARIANTS if args.queries else ():
        title = f"{variant}: one task in the worker (median time of each statement)"
        probes[variant]["queries"].print(title, probes[variant]["times"])
        signal[variant]["queries"].print(f"{variant}: the host's transaction")
        sample = probes[variant]["sample"]
        print(f"\n{variant}: a message the fake Slack received ({sample['channel']}):")
        print("  " + sample["text"].replace("\n", "\n  "))


if __name__ == "__main__":
    sizes = {"messages": (20, 300, "per variant and round"), "rounds": (2, 3, "A/B rounds")}
    sizes |= {"rules": (100, 100, "active rules"), "conn_max_age": (0, 0, "the worker's")}
    flags = {"worker": "(the only mode)", "nginx": "post through the nginx gateway"}
    flags |= {"no_pacing": "no CHANNEL_RATE", "queries": "print each task's SQL, a message"}
    args = scenario.options(__doc__, pg_db="dsr_bench_worker", redis=True, **sizes, **flags)
    scenario.main(run, args)
