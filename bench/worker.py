"""The machinery of the benchmarks that run a real Celery worker: a run's queue, work directory
and Redis keys, the worker, the fake Slack it posts to (directly, or through the shipped nginx
gateway).

The worker is ``celery worker --pool=prefork --concurrency=2`` of the test host with
``bench/worker_settings.py`` (PostgreSQL at ``CONN_MAX_AGE = 0`` and results in Redis, as
SentryHub; every logger at INFO into its log file).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenario import BENCH, ROOT, BenchmarkError, host_settings

CONCURRENCY = 2
WORKER_START_TIMEOUT = 60.0


# -- one run: its queue, work directory, Redis keys; the driver's Django -----------------------


@dataclass
class Run:
    """One run of a worker benchmark: its queue, work directory, Redis client (None without
    Redis), and the queues and keys to delete from Redis at the end."""

    queue: str
    workdir: Path
    redis: Any
    queues: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.workdir / "worker.log"

    def settings(self, broker: str, queue: str) -> dict[str, Any]:
        """The test host's settings for this process (the driver): the tasks it queues go to
        ``queue``, the package's settings are the defaults (but the host's signal and model),
        every logger logs at INFO into a file, as SentryHub's do."""
        rules = host_settings()["SLACK_RULES"]
        handler = {"class": "logging.FileHandler", "filename": str(self.workdir / "driver.log")}
        return host_settings(
            CELERY_BROKER_URL=broker,
            CELERY_TASK_DEFAULT_QUEUE=queue,
            SLACK_RULES={"SIGNAL": rules["SIGNAL"], "ALERT_MODEL": rules["ALERT_MODEL"]},
            SLACK_DEFAULT_CHANNEL="#general",  # SentryHub's setting, read by its task
            LOGGING={
                "version": 1,
                "disable_existing_loggers": False,
                "handlers": {"file": handler},
                "root": {"handlers": ["file"], "level": "INFO"},
            },
        )


@contextlib.contextmanager
def worker_run(args: Any, kind: str, redis: bool = True) -> Iterator[Run]:
    """A run: Redis checked (exit 1 with how to fix it when it does not answer), a queue and a
    work directory of its own. At the end its Redis keys are deleted, and its work directory
    (kept on failure, with the tail of the worker's log)."""
    client = redis_client(args.redis_url) if redis else None
    workdir = Path(tempfile.mkdtemp(prefix=f"dsr-bench-{kind}-"))
    run = Run(f"dsr-{kind}-{os.getpid()}-{int(time.time())}", workdir, client)
    run.queues.append(run.queue)
    try:
        yield run
    except BaseException:
        print(f"{tail(run.log)}\n(the logs are in {run.workdir})", file=sys.stderr)
        raise
    else:
        shutil.rmtree(run.workdir, ignore_errors=True)
    finally:
        if run.redis is not None:
            keys = list(run.keys)
            for name in run.queues:  # the list and kombu's binding tables of each queue
                keys += [name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}"]
            for start in range(0, len(keys), 500):
                run.redis.delete(*keys[start : start + 500])


def redis_client(url: str) -> Any:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise SystemExit(
            f"Redis is not reachable at {url} ({exc}): start redis-server, or give "
            "--redis-url redis://HOST:PORT/DB"
        ) from None
    return client


def redact(url: str) -> str:
    """The broker URL without a password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


# -- the worker and the fake Slack ------------------------------------------------------------


@contextlib.contextmanager
def celery_worker(
    args: Any, run: Run, endpoint: str, include: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """The worker on the run's queue, posting to ``endpoint``, on the database of ``args``;
    ``include``: the benchmark's task modules; ``env``: more settings (``DSR_BENCH_*``,
    bench/worker_settings.py)."""
    queue, log = run.queue, run.log
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "worker_settings",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), str(BENCH), os.environ.get("PYTHONPATH", "")) if p
        ),
        "DSR_BENCH_DB": args.pg_db,
        "PGHOST": args.pg_host,
        "PGPORT": str(args.pg_port),
        "PGUSER": args.pg_user,
        "DSR_BENCH_BROKER": args.redis_url,
        "DSR_BENCH_QUEUE": queue,
        "SLACK_INTERNAL_ENDPOINT": endpoint,
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker",
        "--pool=prefork", f"--concurrency={CONCURRENCY}", "-Q", queue, "-n", f"{queue}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel=INFO", f"--logfile={log}", f"--include={include}",
    ]  # fmt: skip
    output = log.with_suffix(".out")
    with output.open("w") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(
            lambda: worker.poll() is not None or (log.exists() and "ready." in log.read_text()),
            WORKER_START_TIMEOUT,
            "the Celery worker to start",
        )
        if worker.poll() is not None:
            raise BenchmarkError(
                f"the Celery worker exited with {worker.returncode}:\n{tail(output)}\n{tail(log)}"
            )
        yield worker
    finally:
        from tests.processes import stop_process

        stop_process(worker, timeout=20)


@contextlib.contextmanager
def slack_target(nginx: bool, workdir: Path, **fake: Any) -> Iterator[tuple[Any, str, str]]:
    """A fake Slack (``fake``: its options): (fake, SLACK_INTERNAL_ENDPOINT, description).
    With ``nginx``, behind nginx running the shipped gateway configuration, over HTTPS."""
    from tests.fake_slack import FakeSlack

    if not nginx:
        with FakeSlack(**fake) as slack:
            yield slack, f"{slack.url}/slack-proxy/", "fake Slack, directly (HTTP)"
        return
    from tests.nginx_gateway import NGINX, NginxGateway, SlackCertificates, webhook_secrets

    if not Path(NGINX).exists():
        raise BenchmarkError(
            "--nginx needs nginx (on Debian: apt-get install nginx-light); leave --nginx out "
            "to post to the fake Slack directly"
        )
    try:
        certificates = SlackCertificates()
    except ImportError as exc:
        raise BenchmarkError(
            f"--nginx needs trustme for the fake Slack's certificate ({exc}): pip install trustme"
        ) from exc
    with contextlib.ExitStack() as stack:
        stack.enter_context(certificates)
        slack = stack.enter_context(FakeSlack(ssl_context=certificates.server_context(), **fake))
        gateway = stack.enter_context(
            NginxGateway(
                mode="webhook",
                slack=slack,
                ca_file=certificates.ca_file,
                # Every channel to one webhook; no rate limit in the way of the benchmark.
                secrets=webhook_secrets({}, default="/services/T0BENCH/B0BENCH/bench"),
                rate="100000r/s",
                burst=100000,
                workdir=workdir / "nginx",
            )
        )
        version = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr.strip()
        yield slack, gateway.endpoint, f"fake Slack (HTTPS) through the nginx gateway ({version})"


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """The tests' ``wait_until``, polling finer (batch times are measured with it), failing
    with a :class:`BenchmarkError`."""
    from tests.processes import wait_until

    try:
        return wait_until(condition, timeout, what, interval=0.02)
    except AssertionError as exc:
        raise BenchmarkError(str(exc)) from None


def tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return f"({path} is missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
