"""Runs example_project as a user runs it: ``manage.py migrate``, its demo rules, a real
``celery worker`` and ``runserver``, each a subprocess on 127.0.0.1, stopped on exit.

Used by tests/test_example_project.py and tests/test_alertmanager_e2e.py::

    with example_on_postgres(endpoint=..., state_dir=...) as site:
        status, answer = site.post_webhook(body)
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.processes import Service, answers, free_port, stop_process, wait_until

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"
START_TIMEOUT = 60.0
WEBHOOK_PATH = "/alerts/api/v1/webhook/"

#: Variables of the surrounding test run that must not leak into the example's processes.
_FOREIGN = ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL", "CELERY_BROKER_URL")


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    """POST ``body``; return the status and the JSON answer."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null")


@contextlib.contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A fresh PostgreSQL database on 127.0.0.1:5432 (user postgres); its DATABASE_URL."""
    import psycopg

    admin = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ExampleSite(Service):
    """example_project's web app and Celery worker, on the given database and broker."""

    def __init__(
        self,
        *,
        database_url: str,
        broker_url: str,
        queue: str,
        endpoint: str,
        state_dir: Path,
    ) -> None:
        self.queue = queue
        self.state_dir = state_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in _FOREIGN}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=database_url,
            CELERY_BROKER_URL=broker_url,
            CELERY_TASK_DEFAULT_QUEUE=queue,
            SLACK_INTERNAL_ENDPOINT=endpoint,
            EXAMPLE_STATE_DIR=str(state_dir),
            DJANGO_DEBUG="0",
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
        )
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=EXAMPLE,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def _start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        with self.log(name).open("wb") as out:
            process = subprocess.Popen(
                command, cwd=EXAMPLE, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes[name] = process
        return process

    def _alive_and(self, name: str, condition: Callable[[], bool]) -> bool:
        process = self.processes[name]
        if process.poll() is not None:
            raise AssertionError(f"The {name} exited:\n{self.log(name).read_text()}")
        return condition()

    def start(self) -> ExampleSite:
        # The example is configured the way the docs tell a user to: not even a warning.
        self.manage("check", "--fail-level", "WARNING")
        self.manage("migrate", "--noinput")
        self.manage("load_demo_rules")
        self._start(
            "worker",
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queue,
                "--pool=solo", "--loglevel=INFO", "-n", f"{self.queue}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
        )  # fmt: skip
        self._start(
            "web",
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
        )
        wait_until(
            lambda: self._alive_and("worker", lambda: "ready." in self.log("worker").read_text()),
            START_TIMEOUT,
            "the example's Celery worker",
        )
        wait_until(
            lambda: self._alive_and("web", self._answers),
            START_TIMEOUT,
            "the example's web app",
        )
        return self

    def _answers(self) -> bool:
        return answers(self.url + "/accounts/login/")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            stop_process(process)

    def post_webhook(self, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
        return post(self.url + WEBHOOK_PATH, body, content_type)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} log ---\n{self.log(name).read_text()[-6000:]}" for name in self.processes
        )


@contextlib.contextmanager
def example_on_postgres(*, endpoint: str, state_dir: Path) -> Iterator[ExampleSite]:
    """example_project on its own PostgreSQL database and Redis queue, with a real worker
    posting to ``endpoint``; the database and the queue are removed on exit."""
    import redis

    name = f"dsr_example_{uuid.uuid4().hex[:10]}"
    broker = "redis://127.0.0.1:6379/14"
    client = redis.Redis.from_url(broker)
    client.ping()
    try:
        with (
            postgres_database(name) as database_url,
            ExampleSite(
                database_url=database_url,
                broker_url=broker,
                queue=name,
                endpoint=endpoint,
                state_dir=state_dir,
            ) as site,
        ):
            yield site
    finally:
        client.delete(name)
        client.close()
