"""Reads the probed tasks inside the worker: a task sent with the header ``dsr_bench_probe``
reports its SQL (with the transaction control Django logs), each statement's ms and backend
CPU µs (``/proc/<pid>/schedstat``), the connections it opened (and their backends' CPU µs then),
the task's ms and its process's CPU µs, as JSON to the Redis list ``DSR_BENCH_PROBE_KEY``."""

from __future__ import annotations

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
REDIS = redis.Redis.from_url(os.environ["DSR_BENCH_BROKER"])  # connects when first used


def backend_us() -> float:
    """CPU µs the backend of the task's connection has spent so far (NaN: not on this host)."""
    try:
        with open(f"/proc/{current['pid']}/schedstat") as stat:
            return int(stat.read().split()[0]) / 1000
    except OSError:
        return float("nan")


def statement(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
    """An execute wrapper: while a task is probed, the statement's ms and backend CPU µs."""
    if not current:
        return execute(sql, *args)
    cpu, started = backend_us(), time.perf_counter()
    try:
        return execute(sql, *args)
    finally:
        ms = (time.perf_counter() - started) * 1e3
        current["executed"].append((sql, ms, backend_us() - cpu))


def watch(connection: Any) -> None:
    """Read the statements of ``connection``, open, and the CPU of its backend."""
    info = getattr(connection.connection, "info", None)  # psycopg 3; psycopg2 below
    current["pid"] = info.backend_pid if info else connection.connection.get_backend_pid()
    if statement not in connection.execute_wrappers:
        connection.execute_wrappers.append(statement)


@task_prerun.connect(weak=False)
def start(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    request = task.request  # a custom header is an attribute of the request, or in its headers
    if not getattr(request, "dsr_bench_probe", None) and not (request.headers or {}).get(
        "dsr_bench_probe"
    ):
        return
    connection = connections["default"]
    connection.force_debug_cursor = True
    connection.queries_log.clear()
    current.update(task_id=task_id, connections=0, connect_us=0.0, executed=[])
    current.update(started=time.perf_counter(), client_us=time.thread_time() * 1e6)
    if connection.connection is not None:  # kept from an earlier task (CONN_MAX_AGE)
        watch(connection)


@receiver(connection_created, weak=False)
def connected(connection: Any = None, **kwargs: Any) -> None:
    if current:
        watch(connection)
        current["connections"] += 1
        current["connect_us"] += backend_us()  # forked, authenticated, started, set up


@task_postrun.connect(weak=False)
def finish(task_id: str = "", **kwargs: Any) -> None:
    if current.get("task_id") != task_id:
        return
    report, connection = dict(current), connections["default"]
    current.clear()
    report["task_ms"] = (time.perf_counter() - report.pop("started")) * 1e3
    report["client_us"] = time.thread_time() * 1e6 - report["client_us"]
    report["statements"] = [q["sql"] for q in connection.queries_log]
    connection.force_debug_cursor = False
    REDIS.rpush(os.environ["DSR_BENCH_PROBE_KEY"], json.dumps(report))
