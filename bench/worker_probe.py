"""Reads the probed tasks inside the worker (``bench/delivery.py``): a task sent with the header
``dsr_bench_probe`` reports, from ``task_prerun`` to ``task_postrun``, its SQL (with the
transaction control Django logs), each statement's and each commit's ms, the connections it
opened and its ms, as JSON to the Redis list ``DSR_BENCH_PROBE_KEY``.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any

import redis
from celery.signals import task_postrun, task_prerun
from django.db import connections
from django.db.backends.signals import connection_created
from django.dispatch import receiver

#: The report of the probed task running in this (single-threaded) pool process, as it grows.
current: dict[str, Any] = {}


def timed(kind: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, adding its ms to ``current[kind]`` while a task is probed."""

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
    request = task.request  # a custom header is an attribute of the request, or in its headers
    if not getattr(request, "dsr_bench_probe", None) and not (request.headers or {}).get(
        "dsr_bench_probe"
    ):
        return
    connection = connections["default"]
    if not hasattr(type(connection)._commit, "__wrapped__"):
        type(connection)._commit = timed("commit_ms", type(connection)._commit)
    connection.force_debug_cursor = True
    connection.queries_log.clear()
    connection.execute_wrappers.append(time_statement)
    current.update(task_id=task_id, connections=0, statement_ms=[], commit_ms=[])
    current["started"] = time.perf_counter()


@receiver(connection_created, weak=False)
def count_connection(**kwargs: Any) -> None:
    if current:
        current["connections"] += 1


@task_postrun.connect(weak=False)
def finish(task_id: str = "", **kwargs: Any) -> None:
    if current.get("task_id") != task_id:
        return
    report, connection = dict(current), connections["default"]
    current.clear()
    report["task_ms"] = (time.perf_counter() - report.pop("started")) * 1e3
    report["statements"] = [q["sql"] for q in connection.queries_log]
    connection.force_debug_cursor = False
    connection.execute_wrappers.remove(time_statement)
    client().rpush(os.environ["DSR_BENCH_PROBE_KEY"], json.dumps(report))


@functools.cache
def client() -> Any:
    return redis.Redis.from_url(os.environ["DSR_BENCH_BROKER"])
