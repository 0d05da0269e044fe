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
    """A database ``name`` created for the run (and dropped after it), with psycopg 3 or,
    where only it is installed (SentryHub's pins), psycopg2."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        import psycopg2
        from psycopg2 import sql

        def admin(statement: Any) -> None:
            conn = psycopg2.connect(host=host, port=port, user=user, dbname="postgres")
            try:
                conn.autocommit = True
                with conn.cursor() as cursor:
                    cursor.execute(statement)
            finally:
                conn.close()

    else:

        def admin(statement: Any) -> None:
            with psycopg.connect(
                host=host, port=port, user=user, dbname="postgres", autocommit=True
            ) as conn:
                conn.execute(statement)

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
