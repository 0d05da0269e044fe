"""Measures the probed tasks inside the worker (``bench/delivery.py``): a task sent with the
header ``dsr_bench_probe`` is measured from ``task_prerun`` to ``task_postrun``: its SQL (with
the transaction control Django logs), each statement's and each commit's time, the database
connections it opened, its time. One JSON report per task goes to the Redis list
``DSR_BENCH_PROBE_KEY``. Other tasks only pay for a look at this module's state.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.db import connections
from django.db.backends.signals import connection_created
from django.dispatch import receiver

HEADER = "dsr_bench_probe"
#: The probed task running in this (single-threaded) pool process: its report, as it grows.
current: dict[str, Any] = {}


def timed(kind: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, adding its duration (ms) to ``current[kind]`` while a task is probed."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            if current:
                current[kind].append((time.perf_counter() - started) * 1e3)

    return wrapper


time_statement = timed("statement_ms", lambda execute, *args: execute(*args))


@task_prerun.connect(weak=False)
def start(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    request = getattr(task, "request", None)
    variant = getattr(request, HEADER, None) or (getattr(request, "headers", None) or {}).get(
        HEADER
    )
    if not variant:
        return
    connection = connections["default"]
    backend = type(connection)
    if not hasattr(backend._commit, "__wrapped__"):
        backend._commit = timed("commit_ms", backend._commit)
    connection.queries_log.clear()
    connection.force_debug_cursor = True
    connection.execute_wrappers.append(time_statement)
    current.update(task_id=task_id, variant=variant, connections=0, started=time.perf_counter())
    current.update(statement_ms=[], commit_ms=[])


@receiver(connection_created, weak=False)
def count_connection(**kwargs: Any) -> None:
    if current:
        current["connections"] += 1


@task_postrun.connect(weak=False)
def finish(task_id: str = "", **kwargs: Any) -> None:
    if not current or current["task_id"] != task_id:
        return
    elapsed, connection = time.perf_counter() - current.pop("started"), connections["default"]
    report = {**current, "task_ms": elapsed * 1e3}
    current.clear()
    report["statements"] = [q["sql"] for q in connection.queries_log]
    connection.force_debug_cursor = False
    connection.queries_log.clear()
    connection.execute_wrappers.remove(time_statement)
    client().rpush(os.environ["DSR_BENCH_PROBE_KEY"], json.dumps(report))


@functools.cache
def client() -> Any:
    import redis

    return redis.Redis.from_url(os.environ["DSR_BENCH_BROKER"])
