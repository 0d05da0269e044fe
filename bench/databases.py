"""The database a benchmark runs on: SQLite in a temporary file, or a fresh PostgreSQL database.

Each context manager calls ``setup_django(database_settings)`` (the benchmark's own Django
setup) and yields a line describing the database; connections are closed on exit.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SetupDjango = Callable[[dict[str, Any]], None]


@contextmanager
def sqlite_database(setup_django: SetupDjango) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="dsr-bench-") as tmp:
        path = Path(tmp) / "bench.sqlite3"
        setup_django({"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)})
        try:
            yield f"SQLite {sqlite3.sqlite_version} (file {path})"
        finally:
            from django.db import connections

            connections.close_all()


@contextmanager
def postgres_database(
    setup_django: SetupDjango, host: str, port: int, user: str, name: str
) -> Iterator[str]:
    """A database ``name`` created for the run (and dropped after it)."""
    try:
        import psycopg as driver
        from psycopg import sql
    except ImportError:  # a host on psycopg2, as SentryHub's pins are
        import psycopg2 as driver  # type: ignore[no-redef]
        from psycopg2 import sql  # type: ignore[no-redef]

    def admin(statement: Any) -> None:
        conn = driver.connect(host=host, port=port, user=user, dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()

    admin(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        setup_django(
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": name,
                "USER": user,
                "HOST": host,
                "PORT": str(port),
            }
        )
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            (version,) = cursor.fetchone()
        yield f"PostgreSQL {version} ({user}@{host}:{port}/{name})"
    finally:
        from django.db import connections

        connections.close_all()
        admin(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
