"""Measures the benchmark's probed tasks inside the worker (``bench/delivery.py --worker``).

A task sent with the header ``dsr_bench_probe`` (naming the variant) is measured from
``task_prerun`` to ``task_postrun``: its SQL (with the transaction control Django logs), the
database connections it opened, and where its time went (opening the connection, each SQL
statement, each commit of an ``atomic`` block, HTTP through requests' adapter, the rest);
under cProfile with ``DSR_BENCH_PROFILE_DIR``. One JSON report per task goes to the Redis
list ``DSR_BENCH_PROBE_KEY``. Other tasks only pay for a check of this module's state.
"""

from __future__ import annotations

import cProfile
import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from requests.adapters import HTTPAdapter

PROBE_HEADER = "dsr_bench_probe"
PARTS = ("connect", "sql", "commit", "http")

#: The probed task running in this (single-threaded) pool process, if any.
_current: dict[str, Any] = {}


def _variant(task: Any) -> str | None:
    request = getattr(task, "request", None)
    value = getattr(request, PROBE_HEADER, None)
    if value is None:
        headers = getattr(request, "headers", None) or {}
        value = headers.get(PROBE_HEADER)
    return str(value) if value else None


def _timed(part: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, adding its duration to ``part`` while a probed task runs."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _current:
            return function(*args, **kwargs)
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            if _current:
                elapsed = time.perf_counter() - started
                _current["seconds"][part] += elapsed
                _current["each"].setdefault(part, []).append(elapsed)

    return wrapper


HTTPAdapter.send = _timed("http", HTTPAdapter.send)  # type: ignore[method-assign]
_patched: set[type] = set()


def _patch_database(connection: Any) -> None:
    """Time the connection's ``connect`` and ``_commit`` (once per database backend)."""
    backend = type(connection)
    if backend not in _patched:
        backend.connect = _timed("connect", backend.connect)
        backend._commit = _timed("commit", backend._commit)
        _patched.add(backend)


#: A ``connection.execute_wrapper`` timing each statement.
_time_statement = _timed("sql", lambda execute, *args: execute(*args))


@task_prerun.connect(weak=False)
def start(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    variant = _variant(task)
    if not variant or task_id is None:
        return
    from django.db import DEFAULT_DB_ALIAS, connections

    connection = connections[DEFAULT_DB_ALIAS]
    _patch_database(connection)
    connection.queries_log.clear()
    connection.force_debug_cursor = True
    connection.execute_wrappers.append(_time_statement)
    _current.update(
        task_id=task_id,
        variant=variant,
        connections=0,
        seconds=dict.fromkeys(PARTS, 0.0),
        each={},
        profile=None,
    )
    if os.environ.get("DSR_BENCH_PROFILE_DIR"):
        _current["profile"] = cProfile.Profile()
        _current["profile"].enable()
    _current["started"] = time.perf_counter()


@receiver(connection_created, weak=False)
def count_connection(**kwargs: Any) -> None:
    if _current:
        _current["connections"] += 1


@task_postrun.connect(weak=False)
def finish(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if not _current or _current["task_id"] != task_id:
        return
    elapsed = time.perf_counter() - _current["started"]
    state = dict(_current)
    _current.clear()
    profile = state["profile"]
    if profile is not None:
        profile.disable()
    from django.db import connection

    statements = [q["sql"] for q in connection.queries_log]
    connection.force_debug_cursor = False
    connection.queries_log.clear()
    if _time_statement in connection.execute_wrappers:
        connection.execute_wrappers.remove(_time_statement)
    report = {
        "variant": state["variant"],
        "task": getattr(task, "name", "?"),
        "task_id": task_id,
        "seconds": {"task": elapsed, **state["seconds"]},
        # each statement's and each commit's duration, in order
        "each": state["each"],
        "connections": state["connections"],
        "statements": statements,
        "profile": None,
    }
    if profile is not None:
        path = Path(os.environ["DSR_BENCH_PROFILE_DIR"]) / f"{state['variant']}-{task_id}.prof"
        profile.dump_stats(path)
        report["profile"] = str(path)
    _client().rpush(os.environ["DSR_BENCH_PROBE_KEY"], json.dumps(report))


@functools.cache
def _client() -> Any:
    import redis

    return redis.Redis.from_url(os.environ["DSR_BENCH_BROKER"])
