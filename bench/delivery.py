"""Messages per second through a real Celery worker: the package's task against SentryHub's own
(``sentryhub_baseline.py``), same worker, broker, PostgreSQL, fake Slack, alerts and (mirrored)
rules; and the host's signal through both receivers (``host.py``). Steps: every alert through
both receivers (timed; the messages queued are recorded), the worker warmed up, a few messages
probed inside it (``worker_probe.py``: each task's SQL and its times), then A/B rounds: one
variant's batch queued, timed until the fake Slack has it all, checked; the other variant.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Sequence
from typing import Any

import host
import scenario
import sentryhub_baseline
from host import PACKAGE, PACKAGE_FAN_OUT, SENTRYHUB, VARIANTS, Message, SignalTimes
from scenario import TIMES, BenchmarkError, Queries, compare, median, spread, table
from worker import celery_worker, cpu_seconds, redact, slack_target, wait_for, worker_host

#: The worker's pace unless --no-pacing: no batch comes near it, so every delivery takes its
#: destination's slot (one UPDATE, as in production) and none ever waits.
UNREACHED_PACE = 1_000_000
CPU_PARTS = ("the worker's processes", "PostgreSQL's backends", "the whole machine")


def run(args: argparse.Namespace) -> int:
    warmup_n, probe_n = (6, 4) if args.quick else (40, 20)
    sink = f"dsr-bench-{os.getpid()}-signal-path"  # what this process queues: recorded, not run
    with worker_host(args, "delivery benchmark", publish_to=sink) as run:
        from tests.celery_app import app

        pace = 'off (SLACK_RULES["CHANNEL_RATE"] = None): no slot to take'
        if not args.no_pacing:
            pace = f"CHANNEL_RATE {UNREACHED_PACE:,}/s, CHANNEL_BURST {UNREACHED_PACE:,}: "
            pace += "each delivery takes its slot (one UPDATE) and none waits"
        print(
            f"worker: prefork, 2 processes, CONN_MAX_AGE {args.conn_max_age}, logs at INFO; "
            f"Redis {redact(args.redis_url)}; {args.rules} rules\npacing: {pace}\nbaseline: "
            f"SentryHub's Slack task as of {sentryhub_baseline.SENTRYHUB_REPOSITORY}"
            f"@{sentryhub_baseline.SENTRYHUB_COMMIT[:12]} (bench/sentryhub_baseline.py)"
        )
        rng = random.Random(args.seed)
        host.create_rules(args.rules, rng)
        sizes = [warmup_n, probe_n, *[args.messages] * args.rounds]
        batches = [host.create_alerts(f"b{i}", n, rng) for i, n in enumerate(sizes)]
        fan_out = host.create_alerts("fanout", sum(sizes), rng, fanout="yes")
        scenario.progress(f"host signal path: {sum(sizes)} alerts through both receivers…")
        every = [item for batch in batches for item in batch]
        signal_times, messages = host.signal_path(every, batches[1], warmup_n, fan_out)
        run.redis.delete(sink)

        with slack_target(args.nginx, run.workdir) as (slack, endpoint, target):
            print(f"Slack: {target}; {args.messages} messages per variant and round\n")
            env = {"DSR_BENCH_PROBE_KEY": f"{run.queue}:probe"}
            env["DSR_BENCH_CONN_MAX_AGE"] = str(args.conn_max_age)
            env["DSR_BENCH_CHANNEL_RATE"] = "none" if args.no_pacing else str(UNREACHED_PACE)
            env["DSR_BENCH_CHANNEL_BURST"] = "1" if args.no_pacing else str(UNREACHED_PACE)
            modules = "worker_probe,sentryhub_baseline"
            with celery_worker(args, run, endpoint, modules, **env) as worker:

                def send(variant: str, alerts: Sequence[Any], probe: bool = False) -> Any:
                    batch = [messages[variant][item.alert.pk] for item in alerts]
                    return deliver(app, run, slack, worker.pid, variant, batch, probe)

                scenario.progress("warming up the worker, probing its tasks…")
                for variant in VARIANTS:
                    send(variant, batches[0])
                probes = {v: probe(run, send(v, batches[1], probe=True)) for v in VARIANTS}
                rounds = []
                for number, alerts in enumerate(batches[2:], 1):
                    order = VARIANTS if number % 2 else VARIANTS[::-1]
                    scenario.progress(f"round {number}/{args.rounds}: {', '.join(order)}…")
                    rounds.append({v: send(v, alerts) for v in order})
    report(rounds, probes, signal_times, args)
    return 0


def deliver(
    app: Any, run: Any, slack: Any, pid: int, variant: str, batch: list[Message], probe: bool
) -> dict[str, Any]:
    """Queue the batch and wait until the fake Slack has it all and every task has done its
    bookkeeping: msg/s, CPU ms per message, a message Slack received, the task ids."""
    slack.reset()
    headers = {"dsr_bench_probe": variant} if probe else None
    before, started = cpu_seconds(pid), time.monotonic()
    with app.producer_or_acquire() as producer:
        ids = [
            app.send_task(
                m.task, m.args, m.kwargs, queue=run.queue, producer=producer, headers=headers
            ).id
            for m in batch
        ]
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
        keys = [f"celery-task-meta-{task_id}" for task_id in ids]
        run.keys.extend(keys)
        wait_for(lambda: all(run.redis.mget(keys)), 60, "SentryHub's task results")
        if {json.loads(value)["status"] for value in run.redis.mget(keys)} != {"SUCCESS"}:
            raise BenchmarkError("SentryHub: not every task succeeded")
    wait_for(lambda: run.redis.llen(run.queue) == 0, 60, "the queue to drain")
    after = cpu_seconds(pid)
    cpu = [
        None if b is None or a is None else (a - b) * 1e3 / len(batch)
        for b, a in zip(before, after)
    ]
    if len(slack.requests) != len(batch) or not all(r.json().get("text") for r in received):
        raise BenchmarkError(f"{variant}: {len(slack.requests)} requests for {len(batch)}")
    return {"rate": rate, "cpu": cpu, "sample": received[0].json(), "count": len(batch)}


def probe(run: Any, batch: dict[str, Any]) -> dict[str, Any]:
    """What the worker probe reported for the batch's tasks: their queries and connections,
    each statement's median ms (when every task ran the same statements), a message."""
    key = f"{run.queue}:probe"
    run.keys.append(key)
    wait_for(lambda: run.redis.llen(key) >= batch["count"], 60, "the probe's reports")
    reports = [json.loads(r) for r in run.redis.lrange(key, 0, -1)]
    run.redis.delete(key)
    queries = Queries()
    for each in reports:
        queries.add(each["statements"])
    times: list[str] = []
    if len({(len(r["statement_ms"]), len(r["commit_ms"])) for r in reports}) == 1:
        each = {k: iter(zip(*(r[f"{k}_ms"] for r in reports))) for k in ("statement", "commit")}
        for statement in queries.example:
            kind = statement.split()[0].upper()
            kind = "statement" if not scenario.is_transaction_control(statement) else kind.lower()
            times.append(f"{median(next(each[kind], ())):.2f} ms" if kind in each else "")
    return {
        "queries": queries,
        "times": times,
        "connections": spread(r["connections"] for r in reports),
        "task_ms": median(r["task_ms"] for r in reports),
        "sample": batch["sample"],
        "count": len(reports),
    }


def report(
    rounds: list[dict[str, Any]],
    probes: dict[str, dict[str, Any]],
    signal: dict[str, SignalTimes],
    args: argparse.Namespace,
) -> None:
    def cpu(values: Sequence[float | None]) -> str:
        known = [v for v in values if v is not None]
        return f"{median(known):.1f} ms" if known else "n/a"

    def row(title: object, first: str, rounds: Sequence[dict[str, Any]]) -> list[object]:
        rate = {v: median(r[v]["rate"] for r in rounds) for v in VARIANTS}
        ratio = f"{rate[PACKAGE] / rate[SENTRYHUB]:.2f}{TIMES}"
        worker = [cpu([r[v]["cpu"][0] for r in rounds]) for v in VARIANTS]
        return [title, first, *(f"{rate[v]:,.1f}" for v in VARIANTS), ratio, *worker]

    rate = {v: median(r[v]["rate"] for r in rounds) for v in VARIANTS}
    ratios = [r[PACKAGE]["rate"] / r[SENTRYHUB]["rate"] for r in rounds]
    print(f"throughput: {args.messages} messages per variant and round, through the worker")
    titles = ["round", "first", "package msg/s", "SentryHub msg/s", "ratio", "package CPU"]
    rows = [row(n, next(iter(r)), [r]) for n, r in enumerate(rounds, 1)]
    table([*titles, "SentryHub CPU"], [*rows, None, row("median", "", rounds)])
    print(
        f"\npackage/SentryHub throughput: {rate[PACKAGE] / rate[SENTRYHUB]:.2f}{TIMES} (median "
        f"of {len(rounds)} rounds); median of the rounds' ratios {median(ratios):.2f}{TIMES}\n"
        "(msg/s: from the first message queued to the last one the fake Slack received; CPU: "
        "the worker's user + system time per message, until every task of the batch finished)"
    )
    print("\nCPU ms per message (medians of the rounds)")
    compare(
        VARIANTS,
        {p: lambda v, i=i: cpu([r[v]["cpu"][i] for r in rounds]) for i, p in enumerate(CPU_PARTS)},
    )
    print("(PostgreSQL: its backends that ended during the batch, one per task at CONN_MAX_AGE 0)")
    print(f"\nper delivery, inside the worker (probe: {probes[PACKAGE]['count']} tasks each)")
    compare(
        VARIANTS,
        {
            "queries (+transaction control)": lambda v: probes[v]["queries"],
            "database connections opened": lambda v: probes[v]["connections"],
            "task time (prerun to postrun), ms": lambda v: f"{probes[v]['task_ms']:.2f}",
        },
    )
    print("\nhost signal path, in this process (µs per alert, median)")
    fan_out, send = median(signal[PACKAGE_FAN_OUT].send_us), median(signal[SENTRYHUB].send_us)
    compare(
        VARIANTS,
        {
            "alert_processed.send()": lambda v: f"{median(signal[v].send_us):,.0f}",
            "host transaction with commit": lambda v: f"{median(signal[v].transaction_us):,.0f}",
            "queries (+transaction control)": lambda v: signal[v].queries,
            "alert_processed.send(), 3 rules": [f"{fan_out:,.0f}", "-"],
        },
    )
    one = median(signal[PACKAGE].send_us) / send
    print(
        f"(the receiver matches among {args.rules} rules inside the host's transaction, records "
        "the deliveries there and queues their tasks at commit)\nreceiver/SentryHub's handler, "
        f"alert_processed.send(): 1 rule {one:.2f}{TIMES} (budget 1.00{TIMES}), 3 rules "
        f"{fan_out / send:.2f}{TIMES} (budget 1.50{TIMES})"
    )
    for variant in VARIANTS if args.queries else ():
        title = f"{variant}: one task in the worker (median time of each statement)"
        probes[variant]["queries"].print(title, probes[variant]["times"])
        signal[variant].queries.print(f"{variant}: the host's transaction")
        sample = probes[variant]["sample"]
        print(f"\n{variant}: a message the fake Slack received ({sample['channel']}):")
        print("  " + sample["text"].replace("\n", "\n  "))


if __name__ == "__main__":
    scenario.main(
        run,
        scenario.options(
            __doc__,
            pg_db="dsr_bench_worker",
            redis=True,
            messages=(20, 300, "per variant and round"),
            rounds=(2, 3, "A/B rounds"),
            rules=(100, 100, "active rules"),
            conn_max_age=(0, 0, "the worker's CONN_MAX_AGE"),
            worker="(the only mode)",
            nginx="post through the nginx gateway",
            no_pacing='SLACK_RULES["CHANNEL_RATE"] = None in the worker',
            queries="print each task's SQL, and a message of each",
        ),
    )
