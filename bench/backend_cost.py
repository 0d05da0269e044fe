"""Where a delivery's CPU goes on a fresh PostgreSQL connection, statement by statement, for
the package's task and SentryHub's, through the worker of ``delivery.py`` and its probe; the
backends' exits from the postmaster's reaped children. PostgreSQL must run on this machine."""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
from typing import Any

import host
import scenario
from host import VARIANTS
from scenario import BenchmarkError, median
from worker import deliver, probe_reports, worker, worker_host

CTE = re.compile(r'(?:WITH|,)\s+"?([a-z_]+)"?\s+AS\s+\(', re.IGNORECASE)
TABLE = re.compile(r'(?:FROM|INTO|UPDATE|JOIN)\s+"?([a-z_]+)"?', re.IGNORECASE)
PARTS = {"exit": "PostgreSQL: after the statements (exit)", "backend": "PostgreSQL: in all"}
PARTS |= {"client": "the worker: the task, client side", "both": "both"}


def label(sql: str) -> str:
    """A statement's kind and the tables it names: ``SELECT alerts_alertgroup``."""
    ctes = set(CTE.findall(sql))
    tables = [t for t in dict.fromkeys(TABLE.findall(sql)) if t not in ctes]
    return f"{sql.split(None, 1)[0].upper()} {', '.join(tables)}".strip()


def run(args: argparse.Namespace) -> int:
    sink = f"dsr-bench-{os.getpid()}-signal-path"  # what this process queues: recorded, not run
    paths: dict[str, Any] = {v: collections.defaultdict(list) for v in VARIANTS}
    with worker_host(args, "backend cost benchmark", publish_to=sink) as run:
        rng = random.Random(args.seed)
        host.create_rules(args.rules, rng)
        batches = [
            host.create_alerts(f"b{i}", args.messages, rng) for i in range(1 + 2 * args.rounds)
        ]
        _, messages = host.signal_path([a for b in batches for a in b])
        pace = {"DSR_BENCH_CHANNEL_RATE": "1000000", "DSR_BENCH_CHANNEL_BURST": "1000000"}
        with worker(run, **pace):
            plan = [(v, batches[0][i::2], False) for i, v in enumerate(VARIANTS)]  # a warm-up
            for r in range(args.rounds):
                order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
                plan += [(v, batches[1 + 2 * r + i], True) for i, v in enumerate(order)]
            for number, (variant, alerts, record) in enumerate(plan, 1):
                scenario.progress(f"batch {number}/{len(plan)}: {variant}…")
                batch = [messages[variant][item.alert.pk] for item in alerts]
                reaped = deliver(run, variant, batch, probe=True)["cpu"][1]
                if reaped != reaped:  # NaN
                    raise BenchmarkError("no PostgreSQL in /proc: it must run on this machine")
                reports = probe_reports(run, len(batch))
                for task in reports if record else ():
                    parts = {"connect and start": task["connect_us"]}
                    for i, (sql, _, us) in enumerate(task["executed"], 1):
                        parts[f"{i}. {label(sql)}"] = us
                    parts["exit"] = reaped * 1e3 - sum(parts.values())  # an estimate per task
                    paths[variant][tuple(parts)].append(parts | {"client": task["client_us"]})
    report(paths, args)
    return 0


def report(paths: dict[str, Any], args: argparse.Namespace) -> None:
    """Per variant, the medians of its most common path (a first attempt that sends)."""
    print(f"\nCPU µs per message, medians; {args.rounds} round(s) of {args.messages} messages")
    common = {v: max(paths[v].values(), key=len) for v in VARIANTS}
    parts = {v: {p: median(task[p] for task in common[v]) for p in common[v][0]} for v in VARIANTS}
    for v in VARIANTS:
        parts[v]["backend"] = sum(us for part, us in parts[v].items() if part != "client")
        parts[v]["both"] = parts[v]["backend"] + parts[v]["client"]
    statements = [part for v in VARIANTS for part in parts[v] if part[0].isdigit()]
    rows = {
        PARTS.get(part, f"PostgreSQL: {part}"): [
            f"{parts[v][part]:,.0f}" if part in parts[v] else "" for v in VARIANTS
        ]
        for part in ["connect and start", *statements, "exit", "backend", "client", "both"]
    }
    scenario.compare(VARIANTS, rows)
    counts = "; ".join(
        f"{v}: {len(common[v])} of {sum(map(len, paths[v].values()))}" for v in VARIANTS
    )
    print(f"(each variant's most common path: {counts} messages)")


if __name__ == "__main__":
    sizes = {"messages": (20, 200, "per variant and round"), "rounds": (1, 3, "A/B rounds")}
    sizes |= {"rules": (100, 100, "active rules")}
    scenario.main(run, scenario.options(__doc__, pg_db="dsr_bench_backend", redis=True, **sizes))
