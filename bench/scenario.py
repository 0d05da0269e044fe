"""The scenario runner every benchmark shares: its options, its database with Django set up
(SQLite in a temporary file, or PostgreSQL created and dropped for the run), timing, tables
and targets. :func:`main` runs a benchmark: exit 2 on a :class:`BenchmarkError` (a variant
did not do exactly what it should), 1 on a missed target with ``--check``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test suite's host app, settings and fake Slack

TIMES = "\N{MULTIPLICATION SIGN}"
#: Transaction control, which Django logs with the queries.
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


class BenchmarkError(Exception):
    """A variant did not do exactly what it should (a message lost, sent twice, a mismatch)."""


def main(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> None:
    """Run the benchmark, print its total time, exit with its status (2: BenchmarkError)."""
    started = time.perf_counter()
    try:
        status = run(args)
    except BenchmarkError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        status = 2
    print(f"\n(total {time.perf_counter() - started:.1f} s; {load_average()} at the end)")
    sys.exit(status)


def options(
    doc: str, *, pg_db: str, sqlite: bool = False, redis: bool = False, **more: Any
) -> argparse.Namespace:
    """The options every benchmark has and ``more``: ``name="help"``, a flag, or ``name=(quick,
    full, "help")``, a value (a list of them when the default is comma-separated text)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: seconds")
    parser.add_argument("--seed", type=int, default=20240611, help="random seed (%(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    where = "PostgreSQL, not SQLite" if sqlite else "PostgreSQL (always, for this benchmark)"
    parser.add_argument("--postgres", action="store_true", default=not sqlite, help=where)
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    parser.add_argument("--pg-db", default=pg_db, help="created and dropped (%(default)s)")
    if redis:
        parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="broker")
    for name, spec in more.items():
        option = f"--{name.replace('_', '-')}"
        if isinstance(spec, str):
            parser.add_argument(option, action="store_true", help=spec)
        else:
            parser.add_argument(option, type=type(spec[1]), help=f"{spec[2]} ({spec[1]})")
    args = parser.parse_args()
    for name, spec in more.items():
        if isinstance(spec, str):
            continue
        value = getattr(args, name) or (spec[0] if args.quick else spec[1])
        if isinstance(value, str):  # comma-separated: integers if the default is, else words
            value = value.replace("_", "").split(",")
            if spec[1][0].isdigit():
                if not all(v.isdigit() and int(v) > 0 for v in value):
                    parser.error(f"--{name}: comma-separated positive integers")
                value = sorted({int(v) for v in value})
        elif value < 0:
            parser.error(f"--{name}: not negative")
        setattr(args, name, value)
    return args


def package_settings(**extra: Any) -> dict[str, Any]:
    """The package alone, as a minimal host has it."""
    apps = ["django.contrib.contenttypes", "django.contrib.auth", "django_slack_rules"]
    return {"SECRET_KEY": "-", "USE_TZ": True, "TIME_ZONE": "UTC", "INSTALLED_APPS": apps} | extra


def host_settings(**overrides: Any) -> dict[str, Any]:
    """The test suite's host (``tests/settings.py``: SentryHub-shaped ``alerts`` app, its
    ``alert_processed`` signal, SentryHub's in-tree rule model), with ``overrides``."""
    from tests import settings as test_settings

    values = {name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()}
    return {**values, "DEBUG": False, **overrides}


@contextlib.contextmanager
def database(args: argparse.Namespace, settings: dict[str, Any], **options: Any) -> Iterator[str]:
    """Django set up with ``settings`` on SQLite in a temporary file or (``--postgres``) on
    ``--pg-db``, created for the run and dropped after it; yields what the database is."""
    import django
    from django.conf import settings as django_settings
    from django.core.management import call_command
    from django.db import connection, connections

    with contextlib.ExitStack() as stack:
        if args.postgres:
            where = f"{args.pg_user}@{args.pg_host}:{args.pg_port}/{args.pg_db}"
            engine, name = "postgresql", args.pg_db
            options.update(USER=args.pg_user, HOST=args.pg_host, PORT=str(args.pg_port))
        else:
            name = str(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "bench.db")
            engine, where = "sqlite3", f"SQLite {sqlite3.sqlite_version}, file {name}"
        database = {"ENGINE": f"django.db.backends.{engine}", "NAME": name, **options}
        django_settings.configure(**{**settings, "DATABASES": {"default": database}})
        django.setup()
        if args.postgres:
            create_database(name)
            stack.callback(create_database, name, drop=True)
            version = connection.pg_version
            where = f"PostgreSQL {version // 10000}.{version % 10000} ({where})"
        stack.callback(connections.close_all)
        call_command("migrate", verbosity=0, interactive=False)
        yield where


def create_database(name: str, drop: bool = False) -> None:
    """Create the database ``name`` afresh (or drop it), from PostgreSQL's maintenance one."""
    from django.db import connection

    with connection._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)}")
        if not drop:
            cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")


def header(name: str, *parts: str) -> None:
    """The benchmark's first line: what runs, on which Python, Django and database."""
    import django

    print(
        f"django-slack-rules {name}: Python {platform.python_version()}, Django "
        f"{django.get_version()}, {', '.join(parts)}; {os.cpu_count()} CPUs, {load_average()}"
    )


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def median(values: Iterable[float]) -> float:
    return statistics.median(values) if (values := list(values)) else float("nan")


def table(titles: Sequence[str], rows: Iterable[Sequence[object] | None]) -> None:
    """Print ``rows`` under ``titles`` (None: a dashed line), each column as wide as its
    widest cell, the first left-aligned, the others right-aligned."""
    rows = [None if row is None else [str(cell) for cell in row] for row in rows]
    widths = [max(len(r[i]) for r in [titles, *filter(None, rows)]) for i in range(len(titles))]

    def line(cells: Sequence[str]) -> str:
        rest = [f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([cells[0].ljust(widths[0]), *rest]).rstrip()

    dashes = "-" * len(line(titles))
    print(f"{line(titles)}\n{dashes}")
    for row in rows:
        print(dashes if row is None else line(row))


def compare(variants: Sequence[str], rows: dict[str, Any]) -> None:
    """A table with a column per variant; a row: its cells, or a function of the variant."""
    cells = [[t, *(c if isinstance(c, list) else map(c, variants))] for t, c in rows.items()]
    table(["", *variants], cells)


def targets(checks: dict[str, bool]) -> int:
    """Print each target, PASS or FAIL; how many were missed."""
    for text, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    return sum(not ok for ok in checks.values())


def load_average() -> str:
    """The 1-minute load average: the benchmark's figures depend on how busy the machine is."""
    return f"load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""


def is_transaction_control(statement: str) -> bool:
    return statement.lstrip().upper().startswith(TRANSACTION_CONTROL)


def spread(values: Iterable[int]) -> str:
    """ "n", or "min-max"."""
    return "-".join(map(str, sorted({min(values := list(values)), max(values)})))


@dataclass
class Queries:
    """SQL statements per task, over the sampled tasks: "n (+t)", n queries and t
    transaction-control statements; the first task's statements as the example."""

    counts: list[tuple[int, int]] = field(default_factory=list)
    example: list[str] = field(default_factory=list)

    def add(self, statements: Sequence[str]) -> None:
        self.example = self.example or list(statements)
        control = sum(map(is_transaction_control, statements))
        self.counts.append((len(statements) - control, control))

    def __str__(self) -> str:
        return f"{spread(q for q, _ in self.counts)} (+{spread(c for _, c in self.counts)})"

    def print(self, title: str, times: Sequence[str] = (), width: int = 200) -> None:
        """The example's statements; with ``times``, a column of each one's time."""
        control = sum(map(is_transaction_control, self.example))
        print(f"\n{title}: {len(self.example) - control} queries (+{control} transaction control)")
        for i, statement in enumerate(self.example):
            text = " ".join(statement.split())
            took = f"{times[i] if i < len(times) else '':>9}  " if times else ""
            print(f"  {i + 1:>2}. {took}{text[:width]}{'…' if len(text) > width else ''}")
