"""Where a delivery's CPU goes on a fresh PostgreSQL connection, statement by statement, for
the package's task and SentryHub's (``delivery.py`` says how fast; this says where the CPU
goes). In this process, no broker: each task runs with the arguments its receiver queued, on a
fresh connection closed after it (a worker at ``CONN_MAX_AGE = 0``), pacing at a rate no batch
reaches. Per message: the backend's CPU (``/proc/<pid>/schedstat``) at connection and around
each statement, at its exit (the postmaster's reaped children over the batch), and this
thread's (the task's client side). PostgreSQL must run on this machine.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import host
import scenario
from host import VARIANTS
from scenario import BenchmarkError, median
from worker import cpu_seconds, slack_target, worker_host

PACE = {"CHANNEL_RATE": 1_000_000.0, "CHANNEL_BURST": 1_000_000}  # every delivery takes a slot
CTE = re.compile(r'(?:WITH|,)\s+"?([a-z_]+)"?\s+AS\s+\(', re.IGNORECASE)
TABLE = re.compile(r'(?:FROM|INTO|UPDATE|JOIN)\s+"?([a-z_]+)"?', re.IGNORECASE)


def schedstat_us(pid: int) -> float:
    """Microseconds process ``pid`` has spent on a CPU."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1000


def reaped_us() -> float:
    """CPU µs of PostgreSQL's ended backends (the postmaster's reaped children)."""
    if math.isnan(seconds := cpu_seconds(0)[1]):
        raise BenchmarkError("no PostgreSQL server in /proc: it must run on this machine")
    return seconds * 1e6


def label(sql: str) -> str:
    """A statement's kind and the tables it names: ``SELECT alerts_alertgroup``."""
    ctes = set(CTE.findall(sql))
    tables = [t for t in dict.fromkeys(TABLE.findall(sql)) if t not in ctes]
    return f"{sql.split(None, 1)[0].upper()} {', '.join(tables)}".strip()


class Meter:
    """The backend's CPU at connection and for each statement of the current task (an
    execute wrapper, on each connection as it is made)."""

    pid, parts = 0, {}

    def connected(self, sender: Any = None, connection: Any = None, **kwargs: Any) -> None:
        raw = connection.connection
        info = getattr(raw, "info", None)  # psycopg 3; psycopg2 below
        self.pid = info.backend_pid if info is not None else raw.get_backend_pid()
        self.parts = {"connect and start": schedstat_us(self.pid)}
        if self not in connection.execute_wrappers:  # the wrapper outlives its connections
            connection.execute_wrappers.append(self)

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        before = schedstat_us(self.pid)
        try:
            return execute(sql, *args)
        finally:
            self.parts[f"{len(self.parts)}. {label(sql)}"] = schedstat_us(self.pid) - before


def run(args: argparse.Namespace) -> int:
    from django.conf import settings
    from django.db import connection
    from django.db.backends.signals import connection_created

    with worker_host(args, "backend cost benchmark", redis=False) as run:
        from django_slack_rules.conf import slack_rules_settings
        from tests.celery_app import app

        rng = random.Random(args.seed)
        host.create_rules(args.rules, rng)
        batches = [
            host.create_alerts(f"b{i}", args.messages, rng) for i in range(1 + 2 * args.rounds)
        ]
        _, messages = host.signal_path([a for b in batches for a in b])
        meter = Meter()
        connection_created.connect(meter.connected, weak=False)
        #: variant → a task's statements (its path) → that path's tasks, each {part: µs}
        paths: dict[str, Any] = {v: defaultdict(list) for v in VARIANTS}
        exits: dict[str, list[float]] = defaultdict(list)  # per message, over each batch

        def batch(variant: str, items: list[Any], record: bool = True) -> None:
            reaped, read = reaped_us(), 0.0
            for item in items:
                message = messages[variant][item.alert.pk]
                started = time.thread_time_ns()
                app.tasks[message.task](*message.args, **message.kwargs)
                client = (time.thread_time_ns() - started) / 1000
                connection.close()
                read += sum(meter.parts.values())
                paths[variant][tuple(meter.parts)].append({**meter.parts, "client": client})
            time.sleep(0.2)  # the last backends exit and are reaped
            exits[variant].append((reaped_us() - reaped - read) / len(items))
            if not record:  # a warm-up
                paths[variant].clear()
                exits[variant].clear()

        with slack_target(False, run.workdir) as (slack, endpoint, _):
            settings.SLACK_INTERNAL_ENDPOINT = endpoint
            settings.SLACK_RULES = {**settings.SLACK_RULES, **PACE}
            slack_rules_settings.reload()
            scenario.progress("warming up…")
            for i, variant in enumerate(VARIANTS):
                batch(variant, batches[0][i::2], record=False)
            for r in range(args.rounds):
                for i, variant in enumerate(VARIANTS if r % 2 == 0 else VARIANTS[::-1]):
                    scenario.progress(f"round {r + 1}/{args.rounds}: {variant}…")
                    batch(variant, batches[1 + 2 * r + i])
            if len(slack.requests) != len(batches) * args.messages:
                raise BenchmarkError(f"the fake Slack received {len(slack.requests)} messages")
    report(paths, exits, args)
    return 0


def report(paths: dict[str, Any], exits: dict[str, list[float]], args: argparse.Namespace) -> None:
    """Per variant, the medians of its most common path (a first attempt that sends)."""
    print(f"\nCPU µs per message, medians; {args.rounds} round(s) of {args.messages} messages")
    common = {v: max(paths[v].values(), key=len) for v in VARIANTS}
    parts = {v: {p: median(task[p] for task in common[v]) for p in common[v][0]} for v in VARIANTS}
    for v in VARIANTS:
        parts[v]["exit"] = median(exits[v])
        parts[v]["backend"] = sum(us for part, us in parts[v].items() if part != "client")
        parts[v]["both"] = parts[v]["backend"] + parts[v]["client"]
    statements = [part for v in VARIANTS for part in parts[v] if part[0].isdigit()]
    titles = {"exit": "PostgreSQL: after the statements (exit)", "backend": "PostgreSQL: in all"}
    titles |= {"client": "this process: the task, client side", "both": "both"}
    rows = [
        [titles.get(part, f"PostgreSQL: {part}")]
        + [f"{parts[v][part]:,.0f}" if part in parts[v] else "" for v in VARIANTS]
        for part in ["connect and start", *statements, "exit", "backend", "client", "both"]
    ]
    scenario.table(["", *VARIANTS], rows)
    counts = "; ".join(
        f"{v}: {len(common[v])} of {sum(map(len, paths[v].values()))}" for v in VARIANTS
    )
    print(
        f"(each variant's most common path, {counts} messages; statements in the order they ran, "
        "each with its commit; after the statements: the postmaster's reaped children's CPU "
        "over each batch, per message, minus what was read statement by statement)"
    )


if __name__ == "__main__":
    scenario.main(
        run,
        scenario.options(
            __doc__,
            pg_db="dsr_bench_backend",
            messages=(20, 200, "per variant and round"),
            rounds=(1, 3, "A/B rounds"),
            rules=(100, 100, "active rules"),
        ),
    )
