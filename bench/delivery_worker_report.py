"""What ``bench/delivery.py --worker`` prints: throughput per round and its medians, the CPU
per message, inside the worker per delivery (what the probe measured), and the host's signal
path."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cpu import CpuUse
from receivers import PACKAGE, PACKAGE_FAN_OUT, SENTRYHUB, VARIANTS, SignalTimes
from scenario import TIMES, Queries, is_transaction_control, median, spread, table

#: CpuUse's fields, in the report's words
CPU_PARTS = {
    "worker": "the worker's processes",
    "database": "PostgreSQL's backends",
    "machine": "the whole machine",
}
#: Where a probed task's time went (bench/worker_probe.py), in the report's words.
TIME_PARTS = {
    "task": "task time (prerun to postrun)",
    "connect": "  opening the DB connection",
    "sql": "  executing SQL statements",
    "commit": "  committing atomic blocks",
    "http": "  HTTP request and answer",
    "rest": "  the rest (Python)",
}
BOTH = [("", -34), ("package", 14), ("SentryHub", 14)]


@dataclass
class Probe:
    """What the worker measured for the probed tasks of one variant."""

    queries: Queries = field(default_factory=Queries)
    connections: list[int] = field(default_factory=list)
    ms: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in TIME_PARTS})
    #: per task: the ms of each SQL statement, and of each commit, in order
    statement_ms: list[list[float]] = field(default_factory=list)
    commit_ms: list[list[float]] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)

    def add(self, report: dict[str, Any]) -> None:
        self.queries.add(report["statements"])
        self.connections.append(report["connections"])
        seconds = report["seconds"]
        seconds["rest"] = seconds["task"] - sum(
            seconds[part] for part in TIME_PARTS if part not in ("task", "rest")
        )
        for part in TIME_PARTS:
            self.ms[part].append(seconds[part] * 1e3)
        self.statement_ms.append([t * 1e3 for t in report["each"].get("sql", [])])
        self.commit_ms.append([t * 1e3 for t in report["each"].get("commit", [])])
        if report["profile"]:
            self.profiles.append(report["profile"])

    def example_times(self) -> list[str]:
        """The median ms of each statement of ``queries.example`` ("" for BEGIN and the
        like), when every probed task ran the same statements."""
        shapes = {(len(s), len(c)) for s, c in zip(self.statement_ms, self.commit_ms)}
        if len(shapes) != 1:
            return [""] * len(self.queries.example)
        statements, commits = iter(zip(*self.statement_ms)), iter(zip(*self.commit_ms))
        times = []
        for statement in self.queries.example:
            if not is_transaction_control(statement):
                times.append(f"{median(next(statements, ())):.2f} ms")
            elif statement.strip().upper().startswith("COMMIT"):
                times.append(f"{median(next(commits, ())):.2f} ms")
            else:
                times.append("")
        return times


@dataclass
class Round:
    number: int
    order: tuple[str, ...]
    rate: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, CpuUse] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.rate[PACKAGE] / self.rate[SENTRYHUB]


def cpu(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def report(
    rounds: Sequence[Any],
    probes: dict[str, Any],
    signal_times: dict[str, SignalTimes],
    messages: int,
    probed: int,
    args: argparse.Namespace,
) -> None:
    def cpu_median(variant: str, part: str) -> float | None:
        values = [c for r in rounds if (c := getattr(r.cpu[variant], part)) is not None]
        return median(values) if values else None

    package = median([r.rate[PACKAGE] for r in rounds])
    sentryhub = median([r.rate[SENTRYHUB] for r in rounds])
    worker = {v: cpu(cpu_median(v, "worker")) for v in VARIANTS}
    print(f"throughput: {messages} messages per variant and round, through the worker")
    table(
        [("round", -6), ("first", -11), ("package msg/s", 14), ("SentryHub msg/s", 17),
         ("ratio", 8), ("package CPU", 14), ("SentryHub CPU", 15)],
        [
            *(
                [r.number, r.order[0], f"{r.rate[PACKAGE]:,.1f}", f"{r.rate[SENTRYHUB]:,.1f}",
                 f"{r.ratio:.2f}{TIMES}", cpu(r.cpu[PACKAGE].worker), cpu(r.cpu[SENTRYHUB].worker)]
                for r in rounds
            ),
            None,
            ["median", "", f"{package:,.1f}", f"{sentryhub:,.1f}",
             f"{package / sentryhub:.2f}{TIMES}", worker[PACKAGE], worker[SENTRYHUB]],
        ],
        sep="",
    )  # fmt: skip
    print(
        f"\npackage/SentryHub throughput: {package / sentryhub:.2f}{TIMES} "
        f"({package:,.1f} vs {sentryhub:,.1f} msg/s, median of {len(rounds)} rounds); "
        f"median of the rounds' ratios {median([r.ratio for r in rounds]):.2f}{TIMES}"
    )
    print(
        "(msg/s: from the first message queued to the last one the fake Slack received; CPU: "
        "user + system time of the worker's processes per message, until every task of the "
        "batch had finished)"
    )

    print("\nCPU ms per message (medians of the rounds)")
    table(
        BOTH,
        (
            [title, *(cpu(cpu_median(v, part)) for v in VARIANTS)]
            for part, title in CPU_PARTS.items()
        ),
        sep="",
    )
    print(
        "(PostgreSQL: its backends that ended during the batch, one per task; machine: every "
        "process, the benchmark's own included)"
    )

    print(f"\nper delivery, inside the worker (probe: {probed} tasks each)")
    cells: list[tuple[str, Callable[[Any], str]]] = [
        ("queries (+transaction control)", lambda p: str(p.queries)),
        ("database connections opened", lambda p: spread(p.connections)),
        *(
            (f"{title}, ms", lambda p, part=part: f"{median(p.ms[part]):.2f}")
            for part, title in TIME_PARTS.items()
        ),
    ]
    table(BOTH, ([title, *(cell(probes[v]) for v in VARIANTS)] for title, cell in cells), sep="")
    print(
        "(medians; measured with Django's SQL log on, so a little slower than in the rounds; "
        "a statement outside atomic commits as it executes)"
    )

    print("\nhost signal path, in the driver process (µs per alert, median)")
    fan_out = median(signal_times[PACKAGE_FAN_OUT].send_us)
    cells = [
        ("alert_processed.send()", lambda t: f"{median(t.send_us):,.0f}"),
        ("host transaction with commit", lambda t: f"{median(t.transaction_us):,.0f}"),
        ("queries (+transaction control)", lambda t: str(t.queries)),
    ]
    table(
        BOTH,
        [
            *([title, *(cell(signal_times[v]) for v in VARIANTS)] for title, cell in cells),
            ["alert_processed.send(), 3 rules", f"{fan_out:,.0f}", "-"],
        ],
        sep="",
    )
    print(
        f"(the receiver matches among {args.rules} rules inside the host's transaction, "
        "records the deliveries there and queues their tasks at commit: the commit and the "
        "publish to Redis are in the second line)"
    )
    sentryhub_send = median(signal_times[SENTRYHUB].send_us)
    one = median(signal_times[PACKAGE].send_us) / sentryhub_send
    print(
        f"receiver/SentryHub's handler, alert_processed.send(): 1 rule {one:.2f}{TIMES} "
        f"(budget 1.00{TIMES}), 3 rules {fan_out / sentryhub_send:.2f}{TIMES} (budget 1.50{TIMES})"
    )
    if args.queries:
        for variant in VARIANTS:
            probe = probes[variant]
            title = f"{variant}: one task in the worker (median time of each statement)"
            probe.queries.print(title, probe.example_times())
        for variant in VARIANTS:
            signal_times[variant].queries.print(f"{variant}: the host's transaction", [])


def print_profiles(probes: dict[str, Probe], limit: int = 30) -> None:
    import io
    import pstats

    for variant in VARIANTS:
        if files := probes[variant].profiles:
            out = io.StringIO()
            pstats.Stats(*files, stream=out).sort_stats("cumulative").print_stats(limit)
            print(f"\ncProfile of {len(files)} probed {variant} tasks (cumulative):")
            print(out.getvalue().rstrip())
