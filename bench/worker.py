"""What the benchmarks with a real Celery worker share: a run (its queue, work directory and
Redis keys, this process as the test host), the worker (prefork, 2 processes,
``worker_settings.py``) and the fake Slack it posts to (directly, or through the shipped nginx
gateway), a batch delivered and checked, the probe's reports, CPU time from ``/proc``."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from host import PACKAGE
from scenario import BENCH, ROOT, BenchmarkError, database, header, host_settings

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@contextlib.contextmanager
def worker_host(args: Any, title: str, publish_to: str = "") -> Iterator[Any]:
    """A run (its work directory kept on failure) and this process as the test host, as
    SentryHub's (every logger at INFO into a file), its tasks sent to ``publish_to`` or the run's
    queue, the package's settings at their defaults; the run's Redis keys deleted at the end."""
    import celery
    import redis

    client = redis.Redis.from_url(args.redis_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis is not reachable at {args.redis_url} ({exc})") from None
    workdir = Path(tempfile.mkdtemp(prefix="dsr-bench-"))
    queue = f"dsr-bench-{os.getpid()}-{int(time.time())}"
    run = SimpleNamespace(args=args, queue=queue, workdir=workdir, log=workdir / "worker.log")
    run.redis, run.keys = client, []
    for name in {queue, publish_to or queue}:  # each queue's list and kombu's tables
        run.keys += [name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}"]
    rules = host_settings()["SLACK_RULES"]
    handler = {"class": "logging.FileHandler", "filename": str(workdir / "driver.log")}
    settings = host_settings(
        CELERY_BROKER_URL=args.redis_url,
        CELERY_TASK_DEFAULT_QUEUE=publish_to or queue,
        SLACK_RULES={"SIGNAL": rules["SIGNAL"], "ALERT_MODEL": rules["ALERT_MODEL"]},
        SLACK_DEFAULT_CHANNEL="#general",  # SentryHub's setting, read by its task
        LOGGING={"version": 1, "disable_existing_loggers": False, "handlers": {"file": handler}},
    )
    settings["LOGGING"]["root"] = {"handlers": ["file"], "level": "INFO"}
    try:
        with database(args, settings, CONN_MAX_AGE=0) as description:
            from tests.celery_app import app

            app.conf.task_always_eager = False
            header(title, f"Celery {celery.__version__}", description)
            yield run
    except BaseException:
        print(f"{tail(run.log)}\n(the logs are in {workdir})", file=sys.stderr)
        raise
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    finally:
        for start in range(0, len(run.keys), 500):
            client.delete(*run.keys[start : start + 500])


@contextlib.contextmanager
def worker(run: Any, nginx: bool = False, **env: str) -> Iterator[str]:
    """The fake Slack (``run.slack``; with ``nginx``, behind the shipped gateway over HTTPS)
    and the worker (``run.pid``) with the probe and SentryHub's tasks; yields what Slack is."""
    from django.conf import settings

    from tests.fake_slack import FakeSlack
    from tests.processes import stop_process

    with contextlib.ExitStack() as stack:
        if nginx:
            run.slack, endpoint, target = nginx_gateway(stack, run.workdir / "nginx")
        else:
            run.slack = stack.enter_context(FakeSlack())
            endpoint, target = f"{run.slack.url}/slack-proxy/", "fake Slack, directly (HTTP)"
        paths = filter(None, (str(ROOT), str(BENCH), os.environ.get("PYTHONPATH")))
        env |= {"DSR_BENCH_DATABASE": json.dumps(settings.DATABASES["default"])}
        env |= {"DSR_BENCH_BROKER": run.args.redis_url, "DSR_BENCH_QUEUE": run.queue}
        env |= {"DSR_BENCH_PROBE_KEY": f"{run.queue}:probe", "SLACK_INTERNAL_ENDPOINT": endpoint}
        env |= {"DJANGO_SETTINGS_MODULE": "worker_settings", "PYTHONPATH": os.pathsep.join(paths)}
        command = [sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker"]
        command += ["--pool=prefork", "--concurrency=2", "-Q", run.queue, "-n", f"{run.queue}@%h"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"]
        command += [f"--logfile={run.log}", "--include=worker_probe,sentryhub_baseline"]
        output = stack.enter_context(run.log.with_suffix(".out").open("w"))
        process = subprocess.Popen(
            command, cwd=ROOT, env=os.environ | env, stdout=output, stderr=subprocess.STDOUT
        )
        stack.callback(stop_process, process, timeout=20)
        wait_for(lambda: process.poll() is not None or "ready." in tail(run.log), 60, "a worker")
        if process.poll() is not None:
            raise BenchmarkError(f"the worker exited:\n{tail(run.log.with_suffix('.out'))}")
        run.pid = process.pid
        yield target


def nginx_gateway(stack: contextlib.ExitStack, workdir: Path) -> tuple[Any, str, str]:
    """The fake Slack over HTTPS behind nginx running the shipped gateway configuration,
    entered on ``stack``: the fake, the endpoint, a description."""
    from tests.fake_slack import FakeSlack
    from tests.nginx_gateway import NGINX, NginxGateway, SlackCertificates, webhook_secrets

    if not Path(NGINX).exists():
        raise BenchmarkError("--nginx needs nginx (on Debian: apt-get install nginx-light)")
    certificates = stack.enter_context(SlackCertificates())  # needs trustme
    slack = stack.enter_context(FakeSlack(ssl_context=certificates.server_context()))
    gateway = NginxGateway(
        mode="webhook",
        slack=slack,
        ca_file=certificates.ca_file,
        # Every channel to one webhook; no rate limit in the way of the benchmark.
        secrets=webhook_secrets({}, default="/services/T0BENCH/B0BENCH/bench"),
        rate="100000r/s",
        burst=100000,
        workdir=workdir,
    )
    version = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr.strip()
    endpoint = stack.enter_context(gateway).endpoint
    return slack, endpoint, f"fake Slack (HTTPS) through the nginx gateway ({version})"


def deliver(run: Any, variant: str, batch: list[Any], probe: bool = False) -> dict[str, Any]:
    """Queue the batch, wait until the fake Slack has it all and every task has done its
    bookkeeping: msg/s, CPU ms per message, a message Slack received."""
    from tests.celery_app import app

    run.slack.reset()
    headers = {"dsr_bench_probe": variant} if probe else None
    before, started = cpu_seconds(run.pid), time.monotonic()
    with app.producer_or_acquire() as producer:
        queue = functools.partial(app.send_task, queue=run.queue, producer=producer)
        ids = [queue(m.task, m.args, m.kwargs, headers=headers).id for m in batch]
    try:
        received = run.slack.wait_for_requests(len(batch), timeout=max(60.0, len(batch) * 0.2))
    except AssertionError as exc:
        raise BenchmarkError(f"{variant}: {exc}") from None
    rate = len(batch) / (max(r.received_at for r in received) - started)
    if variant == PACKAGE:
        from django_slack_rules.models import SlackDelivery

        done = SlackDelivery.objects.filter(pk__in=[m.kwargs["delivery_id"] for m in batch])
        wait_for(lambda: not done.exclude(state="sent").exists(), 60, "the deliveries sent")
        if sorted(done.values_list("attempts", flat=True)) != [1] * len(batch):
            raise BenchmarkError(f"package: not every one of {len(batch)} deliveries sent once")
    else:
        run.keys.extend(keys := [f"celery-task-meta-{task_id}" for task_id in ids])
        wait_for(lambda: all(run.redis.mget(keys)), 60, "SentryHub's task results")
        if {json.loads(value)["status"] for value in run.redis.mget(keys)} != {"SUCCESS"}:
            raise BenchmarkError("SentryHub: not every task succeeded")
    wait_for(lambda: run.redis.llen(run.queue) == 0, 60, "the queue to drain")
    time.sleep(0.2)  # the last tasks' database backends exit, and are reaped
    cpu = [(a - b) * 1e3 / len(batch) for b, a in zip(before, cpu_seconds(run.pid))]
    if len(run.slack.requests) != len(batch) or not all(r.json().get("text") for r in received):
        raise BenchmarkError(f"{variant}: {len(run.slack.requests)} requests for {len(batch)}")
    return {"rate": rate, "cpu": cpu, "sample": received[0].json()}


def probe_reports(run: Any, count: int) -> list[dict[str, Any]]:
    """The worker probe's reports of the ``count`` tasks probed last (``worker_probe.py``)."""
    run.keys.append(key := f"{run.queue}:probe")
    wait_for(lambda: run.redis.llen(key) >= count, 60, "the probe's reports")
    reports = [json.loads(r) for r in run.redis.lrange(key, 0, -1)]
    run.redis.delete(key)
    return reports


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    from tests.processes import wait_until

    try:
        return wait_until(condition, timeout, what, interval=0.02)
    except AssertionError as exc:
        raise BenchmarkError(str(exc)) from None


def tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace") if path.exists() else f"({path} is missing)"
    return "\n".join(text.splitlines()[-lines:])


def cpu_seconds(worker_pid: int) -> list[float]:
    """CPU seconds so far (NaN where /proc cannot tell) of the worker and its pool, of
    PostgreSQL's ended backends (the postmaster's reaped children), of the machine."""
    stats = []  # (pid, name, the fields after the name) of each process
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            stat = Path("/proc", entry, "stat").read_text()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            stats.append((int(entry), name, stat[stat.rindex(")") + 2 :].split()))
    names = {pid: name for pid, name, _ in stats}
    worker = [int(f[11]) + int(f[12]) for pid, _, f in stats if worker_pid in (pid, int(f[1]))]
    postmaster = [f for _, name, f in stats if name == "postgres" and names.get(int(f[1])) != name]
    postgres = [int(f[13]) + int(f[14]) for f in postmaster]  # the children it reaped
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, *busy = (int(v) for v in f.readline().split()[1:9])
    seconds = [sum(worker), sum(postgres), user + nice + system + sum(busy)]
    return [s / TICKS if s else float("nan") for s in seconds]
