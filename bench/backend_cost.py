"""Where a delivery's CPU goes on a fresh PostgreSQL connection, statement by statement.

``delivery.py --worker`` says how fast; this says where the CPU goes. In this process (no
broker, no worker), the package's task and SentryHub's run on the alerts and mirrored rules of
``--worker``, with the arguments their receivers queue, each message on a fresh connection
closed after the task (as a worker at ``CONN_MAX_AGE = 0``), pacing at a rate no batch reaches.
Per message: the PostgreSQL backend's CPU (``/proc/<pid>/schedstat``) at connection and
around each statement, its exit (the postmaster's reaped children over the batch), and this
thread's CPU (the task's client side). PostgreSQL must run on this machine.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import scenario
from host import (
    PACKAGE,
    SENTRYHUB,
    TASKS,
    VARIANTS,
    create_alerts,
    create_rules,
    random_labels,
    signal_path,
)
from scenario import BenchmarkError
from worker import cpu_seconds, slack_target, worker_run

#: Slack's pace in the run: every delivery takes its slot (one UPDATE), none waits.
PACE = {"CHANNEL_RATE": 1_000_000.0, "CHANNEL_BURST": 1_000_000}
CTE = re.compile(r'(?:WITH|,)\s+"?([a-z_]+)"?\s+AS\s+\(', re.IGNORECASE)
TABLE = re.compile(r'(?:FROM|INTO|UPDATE|JOIN)\s+"?([a-z_]+)"?', re.IGNORECASE)
#: variant → the statements of a task (its path) → that path's tasks, each as {part: µs}
Paths = dict[str, dict[tuple[str, ...], list[dict[str, float]]]]


def schedstat_ns(pid: int) -> int:
    """Nanoseconds process ``pid`` has spent on a CPU."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def reaped_seconds() -> float:
    """CPU seconds of PostgreSQL's ended backends (the postmaster's reaped children)."""
    seconds = cpu_seconds(0)[1]
    if seconds is None:
        raise BenchmarkError(
            "no PostgreSQL server process found in /proc: this benchmark reads the CPU time "
            "of PostgreSQL's backends, so the server must run on this machine"
        )
    return seconds


def label(sql: str) -> str:
    """A statement's kind and the tables it names: ``SELECT alerts_alertgroup``."""
    ctes = set(CTE.findall(sql))
    tables = [t for t in dict.fromkeys(TABLE.findall(sql)) if t not in ctes]
    return f"{sql.lstrip().split(None, 1)[0].upper()} {', '.join(tables)}".strip()


class Meter:
    """The backend CPU of each statement of the current task (a Django execute wrapper)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
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

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        before = schedstat_ns(self.pid) if self.pid else 0
        try:
            return execute(sql, *args)
        finally:
            if self.pid:
                self.statements.append((label(sql), schedstat_ns(self.pid) - before))


def run(args: argparse.Namespace) -> int:
    from django.conf import settings
    from django.db import connection
    from django.db.backends.signals import connection_created

    with worker_run(args, "backend", redis=False) as run:
        driver = run.settings("memory://", run.queue)
        with scenario.database(args, driver, CONN_MAX_AGE=0) as description:
            from django_slack_rules.conf import slack_rules_settings
            from tests.celery_app import app

            app.conf.task_always_eager = False  # the receivers' messages are recorded, not run
            scenario.header("backend cost, PostgreSQL's CPU per delivery", description)
            rng = random.Random(args.seed)
            create_rules(args.rules, rng)
            batches = [
                create_alerts(f"b{i}", random_labels(args.messages, rng), rng)
                for i in range(2 * args.rounds + 1)
            ]
            _, messages = signal_path([a for b in batches for a in b])
            reaped_seconds()  # PostgreSQL runs here
            meter = Meter()
            connection_created.connect(meter.connected, weak=False)
            tasks = {v: app.tasks[TASKS[v]] for v in VARIANTS}
            paths: Paths = {v: defaultdict(list) for v in VARIANTS}
            rests: dict[str, list[float]] = defaultdict(list)  # per message, each batch's exit

            def batch(variant: str, items: Sequence[Any], record: bool = True) -> None:
                reaped, read_ns = reaped_seconds(), 0
                for item in items:
                    message = messages[variant][item.alert.pk]
                    meter.reset()
                    started = time.thread_time_ns()
                    tasks[variant](*message.args, **message.kwargs)
                    client_ns = time.thread_time_ns() - started
                    connection.close()
                    if not record:  # a warm-up
                        continue
                    read_ns += meter.connect_ns + sum(ns for _, ns in meter.statements)
                    parts = {
                        f"{i}. {what}": ns / 1000
                        for i, (what, ns) in enumerate(meter.statements, 1)
                    }
                    path = tuple(what for what, _ in meter.statements)
                    paths[variant][path].append(
                        {"connect": meter.connect_ns / 1000, **parts, "client": client_ns / 1000}
                    )
                if record:
                    time.sleep(0.2)  # the last backends exit and are reaped
                    rests[variant].append(
                        ((reaped_seconds() - reaped) * 1e6 - read_ns / 1000) / len(items)
                    )

            with slack_target(False, run.workdir) as (slack, endpoint, _):
                settings.SLACK_INTERNAL_ENDPOINT = endpoint
                settings.SLACK_RULES = {**settings.SLACK_RULES, **PACE}
                slack_rules_settings.reload()
                scenario.progress("warming up…")
                half = len(batches[0]) // 2
                batch(PACKAGE, batches[0][:half], record=False)
                batch(SENTRYHUB, batches[0][half:], record=False)
                for r in range(args.rounds):
                    for i, variant in enumerate(VARIANTS if r % 2 == 0 else VARIANTS[::-1]):
                        scenario.progress(f"round {r + 1}/{args.rounds}: {variant}…")
                        batch(variant, batches[1 + 2 * r + i])
                sent = len(slack.requests)
        if sent != len(batches) * args.messages:
            raise BenchmarkError(
                f"the fake Slack received {sent} messages, expected {len(batches) * args.messages}"
            )
        report(paths, rests, args)
    return 0


def report(paths: Paths, rests: dict[str, list[float]], args: argparse.Namespace) -> None:
    """Per variant, the medians of its most common path (a first attempt that sends)."""
    print(
        f"\nCPU µs per message, medians; {args.rounds} round(s) of {args.messages} messages per "
        f"variant, {args.rules} rules"
    )
    common = {v: max(paths[v].items(), key=lambda item: len(item[1])) for v in VARIANTS}
    notes = [
        f"{v}: {len(common[v][1])} of {sum(map(len, paths[v].values()))} messages" for v in VARIANTS
    ]

    def med(variant: str, part: str) -> float:
        return statistics.median(task[part] for task in common[variant][1])

    def both(values: Callable[[str], float]) -> list[str]:
        return [f"{values(v):,.0f}" for v in VARIANTS]

    exit_ = {v: statistics.median(rests[v]) for v in VARIANTS}
    rows = [["PostgreSQL: connect and start", *both(lambda v: med(v, "connect"))]]
    for variant in VARIANTS:
        for i, what in enumerate(common[variant][0], 1):
            cell = f"{med(variant, f'{i}. {what}'):,.0f}"
            rows.append(
                [f"PostgreSQL: {i}. {what}", *(cell if v == variant else "" for v in VARIANTS)]
            )

    def backend(v: str) -> float:
        return (
            med(v, "connect")
            + exit_[v]
            + sum(med(v, f"{i}. {w}") for i, w in enumerate(common[v][0], 1))
        )

    rows += [
        ["PostgreSQL: after the statements (exit)", *both(exit_.__getitem__)],
        ["PostgreSQL: in all", *both(backend)],
        ["this process: the task, client side", *both(lambda v: med(v, "client"))],
        ["both", *both(lambda v: backend(v) + med(v, "client"))],
    ]
    scenario.table(["", *VARIANTS], rows)
    print(
        f"(each variant's most common path, {'; '.join(notes)}; statements in the order they "
        "ran, each with its commit; after the statements: the postmaster's reaped children's "
        "CPU over each batch, per message, minus what was read statement by statement)"
    )


def parse_args() -> argparse.Namespace:
    parser = scenario.options(__doc__, pg_db="dsr_bench_backend", quick="20 messages, 1 round")
    parser.add_argument("--messages", type=int, default=200, help="per variant and round (200)")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds (3)")
    parser.add_argument("--rules", type=int, default=100, help="active rules (100)")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.rounds = 20, 1
    if args.messages < 1 or args.rounds < 1:
        parser.error("--messages and --rounds: at least 1")
    return args


if __name__ == "__main__":
    scenario.main(run, parse_args())
