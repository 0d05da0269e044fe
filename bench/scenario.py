"""The scenario runner every benchmark shares: options, database, Django, reporting.

A benchmark is a short script: its options (:func:`options`), its database with Django set
up (:func:`database`: SQLite in a temporary file, or PostgreSQL created and dropped for the
run), its data (``data.py``), its variants timed, its tables printed (:func:`table`). A
:class:`BenchmarkError` (a variant did not do exactly what it should) ends it with exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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


class BenchmarkError(Exception):
    """A variant did not do exactly what it should (a message lost, sent twice, a mismatch)."""


def main(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> None:
    """Run the benchmark and exit with its status (2 on a BenchmarkError)."""
    try:
        status = run(args)
    except BenchmarkError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        status = 2
    sys.exit(status)


# -- options -----------------------------------------------------------------------------


def options(
    doc: str, *, pg_db: str, quick: str, sqlite: bool = False, redis: bool = False
) -> argparse.ArgumentParser:
    """The options every benchmark has: ``--quick``, ``--seed``, the PostgreSQL database
    (``--postgres`` to use it when SQLite is the default), the Redis broker."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--seed", type=int, default=20240611, help="random seed (%(default)s)")
    if sqlite:
        parser.add_argument("--postgres", action="store_true", help="PostgreSQL, not SQLite")
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    parser.add_argument("--pg-db", default=pg_db, help="created and dropped (%(default)s)")
    if redis:
        parser.add_argument(
            "--redis-url",
            default="redis://127.0.0.1:6379/14",
            help="broker and results (%(default)s); the run's keys are deleted at the end",
        )
    return parser


def numbers(parser: argparse.ArgumentParser, name: str, text: str | None) -> list[int] | None:
    """A comma-separated option of positive integers, sorted (``200,2_000``)."""
    if text is None:
        return None
    try:
        values = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--{name}: comma-separated integers, e.g. 100,1000")
    if not values or min(values) < 1:
        parser.error(f"--{name}: give positive numbers")
    return values


# -- the database and Django ---------------------------------------------------------------


def package_settings(**extra: Any) -> dict[str, Any]:
    """The package alone, as a minimal host has it."""
    return {
        "DEBUG": False,
        "SECRET_KEY": "bench-only-not-a-secret",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        # auth: the package's clicks from Slack and their user links refer to users.
        "INSTALLED_APPS": [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django_slack_rules",
        ],
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        **extra,
    }


def host_settings(**overrides: Any) -> dict[str, Any]:
    """The test suite's host (``tests/settings.py``: SentryHub-shaped ``alerts`` app, its
    ``alert_processed`` signal, SentryHub's in-tree rule model), with ``overrides``."""
    from tests import settings as test_settings

    values = {name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()}
    return {**values, "DEBUG": False, **overrides}


@contextlib.contextmanager
def database(args: argparse.Namespace, settings: dict[str, Any], **options: Any) -> Iterator[str]:
    """Django configured with ``settings`` and migrated, on SQLite in a temporary file or
    (``--postgres``, or a benchmark without SQLite) on a database created for the run and
    dropped after it; yields a line describing the database."""
    if getattr(args, "postgres", True):
        with postgres(args) as (database, description):
            yield from _configured(settings, {**database, **options}, description)
        return
    with tempfile.TemporaryDirectory(prefix="dsr-bench-") as tmp:
        path = Path(tmp) / "bench.sqlite3"
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path), **options}
        yield from _configured(settings, database, f"SQLite {sqlite3.sqlite_version} (file {path})")


def _configured(settings: dict[str, Any], database: dict[str, Any], description: str) -> Any:
    import django
    from django.conf import settings as django_settings
    from django.core.management import call_command
    from django.db import connection, connections

    django_settings.configure(**{**settings, "DATABASES": {"default": database}})
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            description = f"PostgreSQL {cursor.fetchone()[0]} {description}"
    try:
        yield description
    finally:
        connections.close_all()


@contextlib.contextmanager
def postgres(args: argparse.Namespace) -> Iterator[tuple[dict[str, Any], str]]:
    """The database ``--pg-db``, created for the run (and dropped after it)."""
    try:
        import psycopg as driver
        from psycopg import sql
    except ImportError:  # a host on psycopg2, as SentryHub's pins are
        import psycopg2 as driver  # type: ignore[no-redef]
        from psycopg2 import sql  # type: ignore[no-redef]

    def admin(statement: str) -> None:
        conn = driver.connect(
            host=args.pg_host, port=args.pg_port, user=args.pg_user, dbname="postgres"
        )
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql.SQL(statement).format(sql.Identifier(args.pg_db)))
        finally:
            conn.close()

    admin("DROP DATABASE IF EXISTS {}")
    admin("CREATE DATABASE {}")
    try:
        yield (
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": args.pg_db,
                "USER": args.pg_user,
                "HOST": args.pg_host,
                "PORT": str(args.pg_port),
            },
            f"({args.pg_user}@{args.pg_host}:{args.pg_port}/{args.pg_db})",
        )
    finally:
        from django.db import connections

        connections.close_all()
        admin("DROP DATABASE IF EXISTS {}")


# -- timing and reporting ------------------------------------------------------------------


def header(name: str, *parts: str) -> None:
    """The benchmark's first line: what runs, on which Python, Django and database."""
    import platform

    import django

    print(
        f"django-slack-rules {name}: Python {platform.python_version()}, Django "
        f"{django.get_version()}, {', '.join(parts)}"
    )


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def us_per_call(fn: Callable[[Any], object], items: Sequence[Any]) -> float:
    """Mean microseconds per call of ``fn`` over ``items``, in one pass."""
    import gc

    gc.collect()
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items) * 1e6


def table(
    columns: Sequence[tuple[str, int]], rows: Iterable[Sequence[object] | None], sep: str = "  "
) -> None:
    """Print a header, a dashed line and ``rows`` (None: another dashed line). A column is
    (title, width): right-aligned, left-aligned when the width is negative."""

    def line(cells: Sequence[object]) -> str:
        return sep.join(
            f"{c!s:<{-w}}" if w < 0 else f"{c!s:>{w}}" for c, (_, w) in zip(cells, columns)
        ).rstrip()

    header = line([title for title, _ in columns])
    print(header)
    print("-" * len(header))
    for row in rows:
        print("-" * len(header) if row is None else line(row))


def load_average() -> str:
    """The 1-minute load average: the benchmark's figures depend on how busy the machine is."""
    try:
        return f"load average {os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "load average unknown"


#: Transaction control, which Django logs with the queries (psycopg does not log BEGIN).
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def is_transaction_control(statement: str) -> bool:
    return statement.lstrip().upper().startswith(TRANSACTION_CONTROL)


def spread(values: Iterable[int]) -> str:
    """ "n", or "min-max"."""
    values = list(values)
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


@dataclass
class Queries:
    """SQL statements per notification, over the sampled notifications: "n (+t)", n queries
    and t transaction-control statements."""

    counts: list[tuple[int, int]] = field(default_factory=list)
    example: list[str] = field(default_factory=list)

    def add(self, statements: Sequence[str]) -> None:
        if not self.counts:
            self.example = list(statements)
        control = sum(1 for s in statements if is_transaction_control(s))
        self.counts.append((len(statements) - control, control))

    @property
    def queries(self) -> str:
        return spread(q for q, _ in self.counts)

    def __str__(self) -> str:
        return f"{self.queries} (+{spread(c for _, c in self.counts)})"

    def __add__(self, other: Queries) -> Queries:
        total = Queries()
        total.counts = [(a + c, b + d) for (a, b), (c, d) in zip(self.counts, other.counts)]
        return total

    def print(self, title: str, times: Sequence[str] | None = None, width: int = 200) -> None:
        """The example's statements; with ``times``, a column of each one's time."""
        control = sum(1 for s in self.example if is_transaction_control(s))
        print(f"\n{title}: {len(self.example) - control} queries (+{control} transaction control)")
        for i, statement in enumerate(self.example):
            text = " ".join(statement.split())
            took = "" if times is None else f"{times[i] if i < len(times) else '':>9}  "
            print(f"  {i + 1:>2}. {took}{text[:width]}{'…' if len(text) > width else ''}")
