"""Where a delivery's CPU goes on a fresh PostgreSQL connection, statement by statement.

``bench/delivery.py --worker`` measures throughput; this one explains it. It runs, in this
process (no broker, no worker), the package's task and SentryHub's (``bench/sentryhub_baseline.py``)
on the same kind of alerts and mirrored rules, with the arguments their receivers queue,
each message on a **fresh database connection**, closed after the task, as a Celery worker
does at ``CONN_MAX_AGE = 0`` (SentryHub's setting). Pacing is on at a rate no batch reaches,
as in the worker benchmark. Both post to the same fake Slack.

Per message it reads:

* the CPU time of the PostgreSQL backend serving it, from its ``/proc/<pid>/schedstat``
  (nanoseconds on the CPU): once when Django has connected (fork, authentication, start-up
  and Django's time zone statement), then before and after each statement. Between them the
  backend waits for the client, so each difference is that statement's cost alone;
* what the backend spent after the last statement (its commit's wait is not CPU; its exit
  is): the postmaster's reaped children's CPU over the batch, minus what was read above;
* the CPU time of this process's main thread (the task, the driver's and libpq's work on
  the client side; the fake Slack runs in other threads).

PostgreSQL must run on this machine (``/proc`` of its processes readable: run as root or as
the ``postgres`` user). Options: ``--messages`` per variant and round, ``--rounds``, and the
database options of ``bench/delivery.py``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

import worker_mode  # noqa: E402
from databases import postgres_database  # noqa: E402
from scenario import BenchmarkError, create_alerts, create_rules  # noqa: E402

#: Slack's pace in the run: every delivery takes its slot (one UPDATE), none waits.
PACE = {"CHANNEL_RATE": 1_000_000.0, "CHANNEL_BURST": 1_000_000}
CTE = re.compile(r'(?:WITH|,)\s+"?([a-z_]+)"?\s+AS\s+\(', re.IGNORECASE)
TABLE = re.compile(r'(?:FROM|INTO|UPDATE|JOIN)\s+"?([a-z_]+)"?', re.IGNORECASE)


def schedstat_ns(pid: int) -> int:
    """Nanoseconds process ``pid`` has spent on a CPU."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def reaped_seconds() -> float:
    """CPU seconds of PostgreSQL's ended backends (the postmaster's reaped children)."""
    seconds = worker_mode.database_cpu_seconds(worker_mode._proc_stats())
    if seconds is None:
        raise BenchmarkError(
            "no PostgreSQL server process found in /proc: this benchmark reads the CPU time "
            "of PostgreSQL's backends, so the server must run on this machine"
        )
    return seconds


def label(sql: str) -> str:
    """A statement's kind and the tables it names: ``SELECT alerts_alertgroup``."""
    verb = sql.lstrip().split(None, 1)[0].upper()
    ctes = set(CTE.findall(sql))
    tables = [t for t in dict.fromkeys(TABLE.findall(sql)) if t not in ctes]
    return f"{verb} {', '.join(tables)}".strip()


class Meter:
    """The backend CPU of each statement of the current task (a Django execute wrapper)."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.connect_ns = 0
        self.statements: list[tuple[str, int]] = []

    def connected(self, sender: Any = None, connection: Any = None, **kwargs: Any) -> None:
        raw = connection.connection
        info = getattr(raw, "info", None)  # psycopg 3; psycopg2 below
        self.pid = info.backend_pid if info is not None else raw.get_backend_pid()
        self.connect_ns = schedstat_ns(self.pid)
        if self not in connection.execute_wrappers:  # the wrapper outlives its connections
            connection.execute_wrappers.append(self)

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        before = schedstat_ns(self.pid) if self.pid else 0
        try:
            return execute(sql, params, many, context)
        finally:
            if self.pid:
                self.statements.append((label(sql), schedstat_ns(self.pid) - before))

    def reset(self) -> None:
        self.pid, self.connect_ns, self.statements = None, 0, []


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="dsr-bench-backend-"))
    try:
        return measure(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(args: argparse.Namespace, workdir: Path) -> int:
    setup = worker_mode.make_setup_django("memory://", "dsr-bench-backend", workdir / "driver.log")
    with postgres_database(
        setup, args.pg_host, args.pg_port, args.pg_user, args.pg_db
    ) as description:
        import django
        from django.conf import settings
        from django.db import connection
        from django.db.backends.signals import connection_created

        from django_slack_rules.conf import slack_rules_settings
        from tests.celery_app import app

        print(
            f"django-slack-rules: PostgreSQL's CPU per delivery on fresh connections, in one "
            f"process; Django {django.get_version()}, {description}"
        )
        rng = random.Random(args.seed)
        create_rules(args.rules, rng)
        worker_mode.create_sentryhub_rules()
        batches = [create_alerts(f"b{i}", args.messages, rng) for i in range(2 * args.rounds + 1)]
        _, messages = worker_mode.signal_path([a for b in batches for a in b], [], skip=0)
        reaped_seconds()  # PostgreSQL runs here
        meter = Meter()
        connection_created.connect(meter.connected, weak=False)
        tasks = {v: app.tasks[worker_mode.TASKS[v]] for v in worker_mode.VARIANTS}
        # variant → the statements' labels of a task (its path) → that path's tasks, each as
        # {part: µs}; and the per-message "rest" of each batch
        paths: dict[str, dict[tuple[str, ...], list[dict[str, float]]]] = {
            v: defaultdict(list) for v in worker_mode.VARIANTS
        }
        rests: dict[str, list[float]] = defaultdict(list)
        with worker_mode.slack_target(False, workdir) as (slack, endpoint, _):
            settings.SLACK_INTERNAL_ENDPOINT = endpoint
            settings.SLACK_RULES = {**settings.SLACK_RULES, **PACE}
            slack_rules_settings.reload()

            def batch(variant: str, items: Sequence[Any], record: bool) -> None:
                reaped, read_ns = reaped_seconds(), 0
                for item in items:
                    message = messages[variant][item.alert.pk]
                    meter.reset()
                    started = time.thread_time_ns()
                    tasks[variant](*message.args, **message.kwargs)
                    client_ns = time.thread_time_ns() - started
                    connection.close()
                    if not record:
                        continue
                    read_ns += meter.connect_ns + sum(ns for _, ns in meter.statements)
                    path = tuple(what for what, _ in meter.statements)
                    paths[variant][path].append(
                        {
                            "connect": meter.connect_ns / 1000,
                            **{
                                f"{i}. {w}": ns / 1000
                                for i, (w, ns) in enumerate(meter.statements, 1)
                            },
                            "client": client_ns / 1000,
                        }
                    )
                if record:
                    time.sleep(0.2)  # the last backends exit and are reaped
                    rest = (reaped_seconds() - reaped) * 1e6 - read_ns / 1000
                    rests[variant].append(rest / len(items))

            progress("warming up…")
            half = len(batches[0]) // 2
            batch(worker_mode.PACKAGE, batches[0][:half], record=False)
            batch(worker_mode.SENTRYHUB, batches[0][half:], record=False)
            for r in range(args.rounds):
                order = worker_mode.VARIANTS if r % 2 == 0 else worker_mode.VARIANTS[::-1]
                for i, variant in enumerate(order):
                    progress(f"round {r + 1}/{args.rounds}: {variant}…")
                    batch(variant, batches[1 + 2 * r + i], record=True)
            sent = len(slack.requests)
        expected = len(batches) * args.messages
        if sent != expected:
            raise BenchmarkError(f"the fake Slack received {sent} messages, expected {expected}")
        report(paths, rests, args)
    return 0


def report(
    paths: dict[str, dict[tuple[str, ...], list[dict[str, float]]]],
    rests: dict[str, list[float]],
    args: Any,
) -> None:
    """Per variant, the medians of its most common path (a first attempt that sends)."""
    package, sentryhub = worker_mode.VARIANTS
    print(
        f"\nCPU µs per message, medians; {args.rounds} round(s) of {args.messages} messages per "
        f"variant, {args.rules} rules"
    )
    notes, common = [], {}
    for variant in worker_mode.VARIANTS:
        path, tasks = max(paths[variant].items(), key=lambda item: len(item[1]))
        common[variant] = (path, tasks)
        count = sum(len(t) for t in paths[variant].values())
        notes.append(f"{variant}: {len(tasks)} of {count} messages")

    def med(variant: str, part: str) -> float:
        return statistics.median(task[part] for task in common[variant][1])

    def both(values: dict[str, float]) -> tuple[str, str]:
        return f"{values[package]:,.0f}", f"{values[sentryhub]:,.0f}"

    rows = [("PostgreSQL: connect and start", *both({v: med(v, "connect") for v in common}))]
    backend = {v: med(v, "connect") + statistics.median(rests[v]) for v in common}
    for variant, (path, _) in common.items():
        for i, what in enumerate(path, 1):
            value = med(variant, f"{i}. {what}")
            backend[variant] += value
            cells = (f"{value:,.0f}", "") if variant == package else ("", f"{value:,.0f}")
            rows.append((f"PostgreSQL: {i}. {what}", *cells))
    rows.append(
        (
            "PostgreSQL: after the statements (exit)",
            *both({v: statistics.median(rests[v]) for v in common}),
        )
    )
    rows.append(("PostgreSQL: in all", *both(backend)))
    client = {v: med(v, "client") for v in common}
    rows.append(("this process: the task, client side", *both(client)))
    rows.append(("both", *both({v: backend[v] + client[v] for v in common})))
    width = max(len(r[0]) for r in rows) + 2
    print(f"{'':{width}}{package:>10}{sentryhub:>12}")
    print("-" * (width + 22))
    for name, a, b in rows:
        print(f"{name:{width}}{a:>10}{b:>12}")
    print(
        f"(each variant's most common path, {'; '.join(notes)}; statements in the order they "
        "ran, each with its commit; after the statements: the postmaster's reaped children's "
        "CPU over each batch, per message, minus what was read statement by statement)"
    )


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--messages", type=int, default=200, help="per variant and round (default: 200)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds (default: 3)")
    parser.add_argument("--quick", action="store_true", help="20 messages, 1 round")
    parser.add_argument("--rules", type=int, default=100, help="active rules (default: 100)")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    parser.add_argument("--pg-db", default="dsr_bench_backend", help="database to create and drop")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.rounds = 20, 1
    if args.messages < 1 or args.rounds < 1:
        parser.error("--messages and --rounds: at least 1")
    try:
        return run(args)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
