"""Waiting for conditions, free ports and a real Celery worker, for the end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
WAIT = 30.0  # seconds: the longest a test waits for any one condition


_S = TypeVar("_S", bound="Service")


class Service:
    """A server a test starts and stops. ``with`` starts it and stops it on the way out,
    also when starting failed halfway (``stop`` must cope with that)."""

    def start(self: _S) -> _S:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def stop_process(process: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """Terminate ``process`` (if it still runs) and wait for it; kill it if it has not ended
    after ``timeout`` s."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def answers(url: str) -> bool:
    """True when ``url`` answers 200 within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], Any],
    timeout: float = WAIT,
    what: str = "condition",
    *,
    interval: float = 0.05,
) -> Any:
    """Poll ``condition`` every ``interval`` s until it is truthy and return its value; fail
    after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:g}s waiting for {what}")
        pause.wait(interval)


@contextlib.contextmanager
def celery_worker(
    *,
    queue: str,
    db_name: str,
    broker: str,
    endpoint: str,
    log: Path,
    gateway_mode: str = "webhook",
    concurrency: int = 1,
    recovery_every: float | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A ``celery worker`` process of the test host on ``queue``, using the test database
    ``db_name`` and posting to ``endpoint`` through a gateway in ``gateway_mode``; its
    output goes to ``log``. Stopped on exit.

    ``concurrency`` above 1: a prefork pool (else one process, the solo pool; on RabbitMQ a
    prefork pool of one, because Celery's solo pool on py-amqp can sit up to 10 s with
    messages ready in the queue, celery/celery#3822).
    ``recovery_every``: with celery beat inside, running the package's recovery task every
    so many seconds. ``env``: more environment (e.g. ``DSR_RECOVERY_AFTER``)."""
    schedule = log.with_suffix(".beat")
    env = {
        **os.environ,
        **(env or {}),
        "DSR_RECOVERY_EVERY": "" if recovery_every is None else str(recovery_every),
        "DSR_GATEWAY_MODE": gateway_mode,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DSR_WORKER_DB": db_name,
        "DSR_TEST_QUEUE": queue,
        "CELERY_BROKER_URL": broker,
        "SLACK_INTERNAL_ENDPOINT": endpoint,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    pool = "solo" if concurrency == 1 and not broker.startswith("amqp") else "prefork"
    command = [
        sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker",
        "-Q", queue, f"--pool={pool}", f"--concurrency={concurrency}", "--loglevel=INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{queue}@%h",
    ]  # fmt: skip
    if recovery_every is not None:
        command += ["--beat", "--schedule", str(schedule)]
    with log.open("w") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: "ready." in log.read_text() or worker.poll() is not None,
            what="the Celery worker to start",
        )
        assert worker.poll() is None, f"The Celery worker exited:\n{log.read_text()}"
        yield worker
    finally:
        stop_process(worker)
