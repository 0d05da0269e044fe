"""Messages per second through a real Celery worker: the package's task against SentryHub's own
(``sentryhub_baseline.py``), same worker, broker, PostgreSQL, fake Slack, alerts and (mirrored)
rules; and the host's signal through both receivers (``host.py``). Steps: every alert through
both receivers (timed; the messages queued are recorded), the worker warmed up, a few messages
probed inside it (``worker_probe.py``: each task's SQL and its times), then A/B rounds: one
variant's batch queued, timed until the fake Slack has it all, checked; the other variant.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import time
from collections.abc import Sequence
from typing import Any

import host
import scenario
import sentryhub_baseline as sentryhub
from host import PACKAGE, PACKAGE_FAN_OUT, SENTRYHUB, VARIANTS, Message
from scenario import TIMES, BenchmarkError, Queries, compare, median, spread, table
from worker import celery_worker, cpu_seconds, slack_target, wait_for, worker_host

#: The worker's pace unless --no-pacing: no batch comes near it, so every delivery takes its
#: destination's slot (one UPDATE, as in production) and none ever waits.
PACE = "1000000"
CPU_PARTS = ("the worker's processes", "PostgreSQL's backends", "the whole machine")


def run(args: argparse.Namespace) -> int:
    sizes = [*((6, 4) if args.quick else (40, 20)), *[args.messages] * args.rounds]
    sink = f"dsr-bench-{os.getpid()}-signal-path"  # what this process queues: recorded, not run
    with worker_host(args, "delivery benchmark", publish_to=sink) as run:
        pace = f"CHANNEL_RATE {int(PACE):,}/s, CHANNEL_BURST {int(PACE):,}: each delivery takes its slot"
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
        env = {"DSR_BENCH_PROBE_KEY": f"{run.queue}:probe", "DSR_BENCH_CHANNEL_RATE": PACE}
        env |= {"DSR_BENCH_CHANNEL_BURST": PACE, "DSR_BENCH_CONN_MAX_AGE": str(args.conn_max_age)}
        if args.no_pacing:
            env |= {"DSR_BENCH_CHANNEL_RATE": "none", "DSR_BENCH_CHANNEL_BURST": "1"}
        with slack_target(args.nginx, run.workdir) as (slack, endpoint, target):
            print(f"Slack: {target}; {args.messages} messages per variant and round\n")
            modules = "worker_probe,sentryhub_baseline"
            with celery_worker(args, run, endpoint, modules, **env) as worker:

                def send(variant: str, alerts: Sequence[Any], probe: bool = False) -> Any:
                    batch = [messages[variant][item.alert.pk] for item in alerts]
                    return deliver(run, slack, worker.pid, variant, batch, probe)

                scenario.progress("warming up the worker, probing its tasks…")
                for variant in VARIANTS:
                    send(variant, batches[0])
                probes = {v: probe(run, send(v, batches[1], probe=True)) for v in VARIANTS}
                rounds = []
                for number, alerts in enumerate(batches[2:], 1):
                    order = VARIANTS if number % 2 else VARIANTS[::-1]
                    scenario.progress(f"round {number}/{args.rounds}: {', '.join(order)}…")
                    rounds.append({v: send(v, alerts) for v in order})
    report(rounds, probes, signal, args)
    return 0


def deliver(
    run: Any, slack: Any, pid: int, variant: str, batch: list[Message], probe: bool
) -> dict[str, Any]:
    """Queue the batch, wait until the fake Slack has it all and every task has done its
    bookkeeping: msg/s, CPU ms per message, a message Slack received."""
    from tests.celery_app import app

    slack.reset()
    headers = {"dsr_bench_probe": variant} if probe else None
    before, started = cpu_seconds(pid), time.monotonic()
    with app.producer_or_acquire() as producer:
        queue = functools.partial(app.send_task, queue=run.queue, producer=producer)
        ids = [queue(m.task, m.args, m.kwargs, headers=headers).id for m in batch]
    try:
        received = slack.wait_for_requests(len(batch), timeout=max(60.0, len(batch) * 0.2))
    except AssertionError as exc:
        raise BenchmarkError(f"{variant}: {exc}") from None
    rate = len(batch) / (max(r.received_at for r in received) - started)
    if variant == PACKAGE:
        from django_slack_rules.models import SlackDelivery

        done = SlackDelivery.objects.filter(pk__in=[m.kwargs["delivery_id"] for m in batch])
        wait_for(lambda: not done.exclude(state="sent").exists(), 60, "the deliveries sent")
        if sorted(done.values_list("attempts", flat=True)) != [1] * len(batch):
            raise BenchmarkError(f"package: not every one of {len(batch)} deliveries sent once")
    else:
        run.keys.extend(keys := [f"celery-task-meta-{task_id}" for task_id in ids])
        wait_for(lambda: all(run.redis.mget(keys)), 60, "SentryHub's task results")
        if {json.loads(value)["status"] for value in run.redis.mget(keys)} != {"SUCCESS"}:
            raise BenchmarkError("SentryHub: not every task succeeded")
    wait_for(lambda: run.redis.llen(run.queue) == 0, 60, "the queue to drain")
    cpu = [(a - b) * 1e3 / len(batch) for b, a in zip(before, cpu_seconds(pid))]
    if len(slack.requests) != len(batch) or not all(r.json().get("text") for r in received):
        raise BenchmarkError(f"{variant}: {len(slack.requests)} requests for {len(batch)}")
    return {"rate": rate, "cpu": cpu, "sample": received[0].json(), "count": len(batch)}


def probe(run: Any, batch: dict[str, Any]) -> dict[str, Any]:
    """What the worker probe reported for the batch's tasks: their queries and connections,
    each statement's median ms (when every task ran the same statements), a message."""
    run.keys.append(key := f"{run.queue}:probe")
    wait_for(lambda: run.redis.llen(key) >= batch["count"], 60, "the probe's reports")
    reports = [json.loads(r) for r in run.redis.lrange(key, 0, -1)]
    run.redis.delete(key)
    queries, times = Queries(), []
    for each in reports:
        queries.add(each["statements"])
    if len({(len(r["statement_ms"]), len(r["commit_ms"])) for r in reports}) == 1:
        each = {k: iter(zip(*(r[f"{k}_ms"] for r in reports))) for k in ("statement", "commit")}
        for statement in queries.example:
            kind = statement.split()[0].lower()
            kind = kind if scenario.is_transaction_control(statement) else "statement"
            times.append(f"{median(next(each[kind], ())):.2f} ms" if kind in each else "")
    return batch | {
        "queries": queries,
        "times": times,
        "connections": spread(r["connections"] for r in reports),
        "task_ms": f"{median(r['task_ms'] for r in reports):.2f}",
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
        f"median of the rounds' ratios {ratios:.2f}{TIMES}\n(msg/s: from the first message "
        "queued to the last one the fake Slack received; CPU: the worker's user + system "
        "time per message, until every task of the batch finished)\n\nCPU ms per message "
        "(medians of the rounds)"
    )
    cpu = {
        p: [f"{median(r[v]['cpu'][i] for r in rounds):.1f} ms" for v in VARIANTS]
        for i, p in enumerate(CPU_PARTS)
    }
    compare(VARIANTS, cpu)
    print(
        "(PostgreSQL: its backends that ended during the batch, one per task at CONN_MAX_AGE "
        f"0)\n\nper delivery, inside the worker (probe: {probes[PACKAGE]['count']} tasks each)"
    )
    compare(
        VARIANTS,
        {
            "queries (+transaction control)": lambda v: probes[v]["queries"],
            "database connections opened": lambda v: probes[v]["connections"],
            "task time (prerun to postrun), ms": lambda v: probes[v]["task_ms"],
        },
    )
    print("\nhost signal path, in this process (µs per alert, median)")
    us = {v: f"{median(times.send_us):,.0f}" for v, times in signal.items()}
    compare(
        VARIANTS,
        {
            "alert_processed.send()": us.get,
            "host transaction with commit": lambda v: f"{median(signal[v].transaction_us):,.0f}",
            "queries (+transaction control)": lambda v: signal[v].queries,
            "alert_processed.send(), 3 rules": [us[PACKAGE_FAN_OUT], "-"],
        },
    )
    one, three = (
        median(signal[v].send_us) / median(signal[SENTRYHUB].send_us)
        for v in (PACKAGE, PACKAGE_FAN_OUT)
    )
    print(
        f"(the receiver matches among {args.rules} rules inside the host's transaction, records "
        "the deliveries there and queues their tasks at commit)\nreceiver/SentryHub's handler, "
        f"alert_processed.send(): 1 rule {one:.2f}{TIMES} (budget 1.00{TIMES}), 3 rules "
        f"{three:.2f}{TIMES} (budget 1.50{TIMES})"
    )
    for variant in VARIANTS if args.queries else ():
        title = f"{variant}: one task in the worker (median time of each statement)"
        probes[variant]["queries"].print(title, probes[variant]["times"])
        signal[variant].queries.print(f"{variant}: the host's transaction")
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
