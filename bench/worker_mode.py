"""``bench/delivery.py --worker``: throughput through a real Celery worker, against SentryHub.

Both variants get the same alerts (SentryHub-shaped, each with its latest occurrence) and
mirrored rules, and run on the same worker, broker, database and fake Slack:

* **package**: the package's task ``django_slack_rules.tasks.process_slack_for_alert_group``
  with exactly the arguments the package's receiver of the host signal queues;
* **SentryHub**: the baseline task of ``bench/sentryhub_baseline.py``, which behaves like
  SentryHub's own ``integrations.tasks.process_slack_for_alert_group``, with the arguments
  its receiver queues.

Steps:

1. *Host signal path*, in this process: for every alert, the host's transaction sends the
   signal to the package's receiver (``tests.alerts.signals.alert_processed``) and, in a
   transaction of its own, to the SentryHub-like receiver; each matches and queues its
   task at commit. Timed per alert (the ``send()`` call, and the whole transaction with
   the commit and the publish to Redis). The messages go to a queue no worker reads and
   are recorded with Celery's ``before_task_publish``: they are what the rounds replay.
2. A ``celery worker --pool=prefork --concurrency=2`` of the test host (settings:
   ``bench/worker_settings.py``) on Redis and PostgreSQL, posting to a fake Slack that
   answers ``ok`` like a webhook, directly or (``--nginx``) through the shipped nginx
   gateway. It is warmed up with messages of both variants.
3. A probe: a few messages of each variant carry a header that makes
   ``bench/worker_probe.py`` record, inside the worker, the SQL of each task, the
   connections it opened and its time.
4. Rounds, A/B alternated: all of a round's messages of one variant are queued, and the
   time runs from the first publish to the moment the fake Slack has received them all
   (the package's deliveries must then all be recorded sent, the baseline's task results
   stored). msg/s = messages / that time. The CPU time (/proc) of the worker's processes,
   of PostgreSQL's backends that ended meanwhile (one per task: ``CONN_MAX_AGE = 0``) and
   of the whole machine is divided by the messages too. Then the other variant, on the
   same alerts.

See bench/README.md for the options, the output and the figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django
from databases import postgres_database
from django.conf import settings
from scenario import (
    STATUS,
    TIMES,
    BenchmarkError,
    Notification,
    Queries,
    create_alerts,
    create_fan_out,
    create_rules,
    is_transaction_control,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent

PACKAGE = "package"
SENTRYHUB = "SentryHub"
VARIANTS = (PACKAGE, SENTRYHUB)
#: The package's receiver for an alert three rules get (fan-out, which SentryHub cannot do).
PACKAGE_FAN_OUT = "package, 3 rules"
#: The Celery names of the tasks the receivers queue.
TASKS = {
    PACKAGE: "django_slack_rules.tasks.process_slack_for_alert_group",
    SENTRYHUB: "sentryhub_baseline.process_slack_for_alert_group",
}
PROBE_HEADER = "dsr_bench_probe"  # bench/worker_probe.py
CONCURRENCY = 2
WORKER_START_TIMEOUT = 60.0
BATCH_TIMEOUT_MIN = 60.0  # seconds a batch may take at least, before it counts as stuck

#: The SentryHub rule template that renders what the package's TEMPLATE renders, in the
#: names SentryHub's task offers (model instances; no ``rule`` in its context, so the rule
#: name is written into each rule's template).
SENTRYHUB_TEMPLATE = """\
{% if alert_group.severity == "critical" %}<!here> {% endif %}:fire: *{{ alert_group.name }}* \
({{ alert_group.severity }}) on `{{ alert_group.instance }}`
{{ summary }}
{% if description %}> {{ description }}
{% endif %}Team: {{ alert_group.labels.team|default:"unowned" }} · namespace \
{{ alert_group.labels.namespace|default:"-" }}
Started {{ latest_instance.started_at|date:"Y-m-d H:i" }} UTC · rule RULE_NAME"""
SENTRYHUB_RESOLVED_TEMPLATE = ":white_check_mark: *{{ alert_group.name }}* resolved"


@dataclass(frozen=True)
class WorkerProfile:
    """How much to run (the default, or ``--quick``)."""

    messages: int
    rounds: int
    warmup: int
    probe: int


DEFAULT_WORKER_PROFILE = WorkerProfile(messages=300, rounds=3, warmup=40, probe=20)
QUICK_WORKER_PROFILE = WorkerProfile(messages=20, rounds=2, warmup=6, probe=4)


@dataclass(frozen=True)
class Message:
    """One task message, as a receiver queued it."""

    task: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    alert_id: Any


@dataclass
class SignalTimes:
    """Per alert: µs for ``send()`` inside the host's transaction, and for the whole
    transaction (with the commit and the publish at commit)."""

    send_us: list[float] = field(default_factory=list)
    transaction_us: list[float] = field(default_factory=list)
    queries: Queries = field(default_factory=Queries)


#: Where a probed task's time went (bench/worker_probe.py), in the report's words.
TIME_PARTS = {
    "task": "task time (prerun to postrun)",
    "connect": "  opening the DB connection",
    "sql": "  executing SQL statements",
    "commit": "  committing atomic blocks",
    "http": "  HTTP request and answer",
    "rest": "  the rest (Python)",
}


@dataclass
class Probe:
    """What the worker measured for the probed tasks of one variant."""

    queries: Queries = field(default_factory=Queries)
    connections: list[int] = field(default_factory=list)
    ms: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in TIME_PARTS})
    #: per task: the ms of each SQL statement, and of each commit, in order
    statement_ms: list[list[float]] = field(default_factory=list)
    commit_ms: list[list[float]] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)

    def example_times(self) -> list[str]:
        """The median ms of each statement of ``queries.example`` ("" for BEGIN and the
        like), when every probed task ran the same statements."""
        shapes = {(len(s), len(c)) for s, c in zip(self.statement_ms, self.commit_ms)}
        if len(shapes) != 1:
            return [""] * len(self.queries.example)
        statements = iter(zip(*self.statement_ms))
        commits = iter(zip(*self.commit_ms))
        times = []
        for statement in self.queries.example:
            if not is_transaction_control(statement):
                times.append(f"{median(next(statements, ())):.2f} ms")
            elif statement.strip().upper().startswith("COMMIT"):
                times.append(f"{median(next(commits, ())):.2f} ms")
            else:
                times.append("")
        return times


@dataclass
class Round:
    number: int
    order: tuple[str, ...]
    rate: dict[str, float] = field(default_factory=dict)
    #: CPU ms per message (None where /proc can't tell)
    cpu: dict[str, CpuUse] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.rate[PACKAGE] / self.rate[SENTRYHUB]


# -- Django in this process ----------------------------------------------------------------


def make_setup_django(broker: str, sink_queue: str, log_file: Path) -> Callable[..., None]:
    """The test host's settings on ``database``; tasks queued here go to ``sink_queue``."""

    def setup_django(database: dict[str, Any]) -> None:
        from django.core.management import call_command

        from tests import settings as test_settings

        values = {
            name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()
        }
        values.update(
            DEBUG=False,
            DATABASES={"default": {**database, "CONN_MAX_AGE": 0}},
            CELERY_BROKER_URL=broker,
            CELERY_TASK_DEFAULT_QUEUE=sink_queue,
            SLACK_RULES={
                "SIGNAL": test_settings.SLACK_RULES["SIGNAL"],
                "ALERT_MODEL": test_settings.SLACK_RULES["ALERT_MODEL"],
            },
            SLACK_DEFAULT_CHANNEL="#general",
            # As SentryHub: every logger at INFO, here into a file.
            LOGGING={
                "version": 1,
                "disable_existing_loggers": False,
                "handlers": {
                    "file": {"class": "logging.FileHandler", "filename": str(log_file)},
                },
                "root": {"handlers": ["file"], "level": "INFO"},
            },
        )
        settings.configure(**values)
        django.setup()
        call_command("migrate", verbosity=0, interactive=False)

        from tests.celery_app import app

        app.conf.task_always_eager = False

    return setup_django


def create_sentryhub_rules() -> None:
    """SentryHub's in-tree rules mirroring the package's: same names, priorities, channels
    and criteria (written ``labels__<name>``), and the same message in SentryHub's names."""
    from django_slack_rules.models import SlackIntegrationRule
    from tests.legacy_integrations.models import SlackIntegrationRule as LegacyRule

    LegacyRule.objects.bulk_create(
        LegacyRule(
            name=rule.name,
            is_active=rule.is_active,
            priority=rule.priority,
            match_criteria={f"labels__{k}": v for k, v in rule.match_criteria.items()},
            slack_channel=rule.slack_channel,
            message_template=SENTRYHUB_TEMPLATE.replace("RULE_NAME", rule.name),
            resolved_message_template=SENTRYHUB_RESOLVED_TEMPLATE,
        )
        for rule in SlackIntegrationRule.objects.order_by("pk")
    )


# -- 1. the host's signal path ----------------------------------------------------------------


@contextlib.contextmanager
def recording_publishes() -> Iterator[list[Message]]:
    """The task messages published in the block (Celery's ``before_task_publish``)."""
    from celery.signals import before_task_publish

    published: list[Message] = []

    def record(sender: Any = None, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        args, task_kwargs = body[0], body[1]
        name = (headers or {}).get("task", sender)
        published.append(Message(name, tuple(args), dict(task_kwargs), None))

    before_task_publish.connect(record, weak=False)
    try:
        yield published
    finally:
        before_task_publish.disconnect(record)


def signal_path(
    alerts: Sequence[Notification],
    counted: Sequence[Notification],
    skip: int,
    fan_out: Sequence[Notification] = (),
) -> tuple[dict[str, SignalTimes], dict[str, dict[Any, Message]]]:
    """Every alert through both receivers, each in a host transaction of its own; between
    them, one alert of ``fan_out`` through the package's receiver (three rules get it).

    Times all but the first ``skip`` alerts (a warm-up); counts the queries of ``counted``
    instead of timing them. Returns the times and each variant's message per alert.
    """
    import sentryhub_baseline
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from tests.alerts.models import AlertGroup
    from tests.alerts.signals import alert_processed

    signals = {PACKAGE: alert_processed, SENTRYHUB: sentryhub_baseline.alert_processed}
    times = {variant: SignalTimes() for variant in (*VARIANTS, PACKAGE_FAN_OUT)}
    messages: dict[str, dict[Any, Message]] = {variant: {} for variant in VARIANTS}
    counted_ids = {item.alert.pk for item in counted}
    clock = time.perf_counter
    with recording_publishes() as published:
        for i, item in enumerate(alerts):
            order = VARIANTS if i % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                published.clear()
                count = item.alert.pk in counted_ids
                capture = CaptureQueriesContext(connection) if count else None
                with contextlib.nullcontext() if capture is None else capture:
                    started = clock()
                    with transaction.atomic():
                        before = clock()
                        signals[variant].send(
                            sender=AlertGroup,
                            alert_group=item.alert,
                            instance=item.instance,
                            status=STATUS,
                        )
                        sent = clock()
                    done = clock()
                if capture is not None:
                    times[variant].queries.add([q["sql"] for q in capture.captured_queries])
                elif i >= skip:
                    times[variant].send_us.append((sent - before) * 1e6)
                    times[variant].transaction_us.append((done - started) * 1e6)
                if len(published) != 1:
                    raise BenchmarkError(
                        f"{variant}: its receiver queued {len(published)} messages for alert "
                        f"{item.alert.pk} (expected 1)"
                    )
                message = published[0]
                if message.task != TASKS[variant]:
                    raise BenchmarkError(
                        f"{variant}: its receiver queued {message.task}, not {TASKS[variant]}"
                    )
                messages[variant][item.alert.pk] = Message(
                    message.task, message.args, message.kwargs, item.alert.pk
                )
            if i < len(fan_out):
                published.clear()
                with transaction.atomic():
                    before = clock()
                    alert_processed.send(
                        sender=AlertGroup,
                        alert_group=fan_out[i].alert,
                        instance=fan_out[i].instance,
                        status=STATUS,
                    )
                    sent = clock()
                if i >= skip:
                    times[PACKAGE_FAN_OUT].send_us.append((sent - before) * 1e6)
                if len(published) != 3:
                    raise BenchmarkError(
                        f"{PACKAGE_FAN_OUT}: its receiver queued {len(published)} messages "
                        "(expected 3)"
                    )
    return times, messages


# -- 2. the worker and what it posts to --------------------------------------------------------


@contextlib.contextmanager
def slack_target(nginx: bool, workdir: Path) -> Iterator[tuple[Any, str, str]]:
    """A fake Slack answering ``ok``: (fake, SLACK_INTERNAL_ENDPOINT, description)."""
    from tests.fake_slack import FakeSlack

    if not nginx:
        with FakeSlack() as slack:
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
        slack = stack.enter_context(FakeSlack(ssl_context=certificates.server_context()))
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


@contextlib.contextmanager
def celery_worker(
    *,
    queue: str,
    database: str,
    pg: tuple[str, int, str],
    broker: str,
    endpoint: str,
    probe_key: str,
    log: Path,
    debug: bool,
    profile_dir: Path | None,
    pace: tuple[str, str] | None = None,
    include: str = "worker_probe,sentryhub_baseline",
    conn_max_age: int = 0,
) -> Iterator[subprocess.Popen[bytes]]:
    """``celery worker --pool=prefork --concurrency=2`` of the test host on ``queue``.

    ``pace``: SLACK_RULES["CHANNEL_RATE"] ("none", or a number) and CHANNEL_BURST for the
    worker (None: the package's defaults). ``include``: the benchmark's task modules."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "worker_settings",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), str(BENCH), os.environ.get("PYTHONPATH", "")) if p
        ),
        "DSR_BENCH_DB": database,
        "PGHOST": pg[0],
        "PGPORT": str(pg[1]),
        "PGUSER": pg[2],
        "DSR_BENCH_BROKER": broker,
        "DSR_BENCH_QUEUE": queue,
        "DSR_BENCH_PROBE_KEY": probe_key,
        "DSR_BENCH_DEBUG": "1" if debug else "0",
        "DSR_BENCH_CONN_MAX_AGE": str(conn_max_age),
        "SLACK_INTERNAL_ENDPOINT": endpoint,
    }
    if profile_dir is not None:
        env["DSR_BENCH_PROFILE_DIR"] = str(profile_dir)
    if pace is not None:
        env["DSR_BENCH_CHANNEL_RATE"], env["DSR_BENCH_CHANNEL_BURST"] = pace
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


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """The tests' ``wait_until``, polling finer (batch times are measured with it), failing
    with a :class:`BenchmarkError`."""
    from tests.processes import wait_until

    try:
        return wait_until(condition, timeout, what, interval=0.02)
    except AssertionError as exc:
        raise BenchmarkError(str(exc)) from None


def _proc_stats() -> list[tuple[int, str, list[str]]]:
    """(pid, name, the fields after the name) of every process in /proc; [] without /proc."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        found.append((int(entry), name, stat[stat.rindex(")") + 2 :].split()))
    return found


TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int, stats: list[tuple[int, str, list[str]]]) -> float | None:
    """User + system CPU seconds of process ``pid`` and its children (the pool processes),
    in ``stats`` (:func:`_proc_stats`); None where there is no /proc."""
    times = [
        (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
        for found, _, fields in stats
        if found == pid or int(fields[1]) == pid  # fields[1]: the parent's pid
    ]
    return sum(times) if times else None


def database_cpu_seconds(stats: list[tuple[int, str, list[str]]]) -> float | None:
    """CPU seconds of PostgreSQL's ended backends: the user + system time of the postmaster's
    children it has reaped (a backend ends with its connection, so with each task at
    ``CONN_MAX_AGE = 0``). None when PostgreSQL doesn't run on this machine."""
    names = {pid: name for pid, name, _ in stats}
    times = [
        (int(fields[13]) + int(fields[14])) / TICKS  # cutime, cstime
        for pid, name, fields in stats
        if name == "postgres" and names.get(int(fields[1])) != "postgres"  # the postmaster
    ]
    return sum(times) if times else None


def machine_cpu_seconds() -> float | None:
    """CPU seconds every process on the machine used (all but idle and iowait), /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / TICKS


@dataclass(frozen=True)
class CpuUse:
    """CPU ms per message: the worker's processes, PostgreSQL's backends, the machine."""

    worker: float | None
    database: float | None
    machine: float | None


#: CpuUse's fields, in the report's words
CPU_PARTS = {
    "worker": "the worker's processes",
    "database": "PostgreSQL's backends",
    "machine": "the whole machine",
}


def cpu_counters(worker_pid: int) -> tuple[float | None, float | None, float | None]:
    """The worker's, PostgreSQL's and the machine's CPU seconds, from one read of /proc."""
    stats = _proc_stats()
    return cpu_seconds(worker_pid, stats), database_cpu_seconds(stats), machine_cpu_seconds()


def cpu_use(
    before: tuple[float | None, ...], after: tuple[float | None, ...], messages: int
) -> CpuUse:
    per_message = [
        None if b is None or a is None else (a - b) / messages * 1e3 for b, a in zip(before, after)
    ]
    return CpuUse(*per_message)


def tail(path: Path, lines: int = 25) -> str:
    if not path.exists():
        return f"({path} is missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# -- 3 and 4. batches of messages through the worker ------------------------------------------


class Runner:
    """Queues batches of messages to the worker and waits until each batch is done."""

    def __init__(
        self,
        app: Any,
        redis: Any,
        slack: Any,
        queue: str,
        probe_key: str,
        log: Path,
        worker_pid: int,
    ) -> None:
        self.app = app
        self.worker_pid = worker_pid
        self.redis = redis
        self.slack = slack
        self.queue = queue
        self.probe_key = probe_key
        self.log = log
        self.result_keys: list[str] = []
        self.samples: dict[str, Any] = {}

    def run(
        self, variant: str, messages: Sequence[Message], probe: bool = False
    ) -> tuple[float, CpuUse]:
        """Queue ``messages`` and wait until they are all delivered and recorded; return
        msg/s, and the CPU ms per message."""
        n = len(messages)
        self.slack.reset()
        headers = {PROBE_HEADER: variant} if probe else None
        task_ids: list[str] = []
        cpu_before = cpu_counters(self.worker_pid)
        started = time.monotonic()
        with self.app.producer_or_acquire() as producer:
            for message in messages:
                result = self.app.send_task(
                    message.task,
                    args=message.args,
                    kwargs=message.kwargs,
                    queue=self.queue,
                    producer=producer,
                    headers=headers,
                )
                task_ids.append(result.id)
        timeout = max(BATCH_TIMEOUT_MIN, n * 0.2)
        try:
            received = self.slack.wait_for_requests(n, timeout=timeout)
        except AssertionError as exc:
            raise BenchmarkError(f"{variant}: {exc}\n--- worker log:\n{tail(self.log)}") from None
        elapsed = max(r.received_at for r in received[:n]) - started
        self.check_done(variant, messages, task_ids)
        cpu = cpu_use(cpu_before, cpu_counters(self.worker_pid), n)
        if len(self.slack.requests) != n:
            raise BenchmarkError(
                f"{variant}: the fake Slack received {len(self.slack.requests)} requests for "
                f"{n} messages"
            )
        for request in received:
            body = request.json()
            if not (isinstance(body, dict) and body.get("text") and body.get("channel")):
                raise BenchmarkError(f"{variant}: a request without channel or text: {body!r}")
        self.samples[variant] = received[0].json()
        return n / elapsed, cpu

    def check_done(self, variant: str, messages: Sequence[Message], task_ids: list[str]) -> None:
        """Wait (bounded) until each task has finished its bookkeeping, and the queue is empty."""
        n = len(messages)
        if variant == PACKAGE:
            from django_slack_rules.models import SlackDelivery

            alert_ids = [str(m.alert_id) for m in messages]

            def done() -> bool:
                return (
                    SlackDelivery.objects.filter(alert_id__in=alert_ids).count() >= n
                    and not (
                        SlackDelivery.objects.filter(alert_id__in=alert_ids).exclude(state="sent")
                    ).exists()
                )

            wait_for(done, BATCH_TIMEOUT_MIN, f"{n} package deliveries recorded as sent")
            states = list(
                SlackDelivery.objects.filter(alert_id__in=alert_ids).values_list(
                    "state", "attempts"
                )
            )
            if len(states) != n or any(s != ("sent", 1) for s in states):
                raise BenchmarkError(
                    f"package: {len(states)} deliveries for {n} messages, not all sent once: "
                    f"{sorted(set(states))}"
                )
        else:
            keys = [f"celery-task-meta-{task_id}" for task_id in task_ids]
            self.result_keys.extend(keys)

            def stored() -> list[Any] | None:
                values = self.redis.mget(keys)
                return values if all(values) else None

            values = wait_for(stored, BATCH_TIMEOUT_MIN, f"{n} SentryHub task results")
            states = {json.loads(v)["status"] for v in values}
            if states != {"SUCCESS"}:
                raise BenchmarkError(f"SentryHub: task states {sorted(states)}, not all SUCCESS")
        wait_for(lambda: self.redis.llen(self.queue) == 0, BATCH_TIMEOUT_MIN, "the queue to drain")

    def probe(self, variant: str, messages: Sequence[Message]) -> Probe:
        self.redis.delete(self.probe_key)
        self.run(variant, messages, probe=True)
        # A task reports in task_postrun, after it has sent and recorded its message.
        wait_for(
            lambda: self.redis.llen(self.probe_key) >= len(messages),
            BATCH_TIMEOUT_MIN,
            f"the worker probe's report of {len(messages)} {variant} tasks",
        )
        reports = [json.loads(r) for r in self.redis.lrange(self.probe_key, 0, -1)]
        self.redis.delete(self.probe_key)
        if len(reports) != len(messages):
            raise BenchmarkError(
                f"{variant}: the worker probe reported {len(reports)} of {len(messages)} tasks"
            )
        probe = Probe()
        for report in reports:
            probe.queries.add(report["statements"])
            probe.connections.append(report["connections"])
            seconds = report["seconds"]
            seconds["rest"] = seconds["task"] - sum(
                seconds[part] for part in TIME_PARTS if part not in ("task", "rest")
            )
            for part in TIME_PARTS:
                probe.ms[part].append(seconds[part] * 1e3)
            probe.statement_ms.append([t * 1e3 for t in report["each"].get("sql", [])])
            probe.commit_ms.append([t * 1e3 for t in report["each"].get("commit", [])])
            if report["profile"]:
                probe.profiles.append(report["profile"])
        return probe


# -- the run -------------------------------------------------------------------------------------


def run(args: Any) -> int:
    import redis

    profile = QUICK_WORKER_PROFILE if args.quick else DEFAULT_WORKER_PROFILE
    profile = WorkerProfile(
        messages=args.messages or profile.messages,
        rounds=args.rounds or profile.rounds,
        warmup=profile.warmup,
        probe=profile.probe,
    )
    broker = args.redis_url
    client = redis.Redis.from_url(broker)
    try:
        client.ping()
    except redis.RedisError as exc:
        print(
            f"Redis is not reachable at {broker} ({exc}): start redis-server, or give "
            "--redis-url redis://HOST:PORT/DB",
            file=sys.stderr,
        )
        return 1
    run_id = f"dsr-bench-{os.getpid()}-{int(time.time())}"
    queue, sink = run_id, f"{run_id}-signal-path"
    probe_key = f"{run_id}:probe"
    workdir = Path(tempfile.mkdtemp(prefix="dsr-bench-worker-"))
    started = time.perf_counter()
    runner: Runner | None = None
    finished = False
    try:
        setup = make_setup_django(broker, sink, workdir / "driver.log")
        database = postgres_database(setup, args.pg_host, args.pg_port, args.pg_user, args.pg_db)
        with database as description:
            import celery
            import requests
            import sentryhub_baseline

            print(
                f"django-slack-rules delivery benchmark, through a Celery worker: Python "
                f"{platform.python_version()}, Django {django.get_version()}, Celery "
                f"{celery.__version__}, requests {requests.__version__}, {description}"
            )
            print(
                f"worker: prefork, {CONCURRENCY} processes, CONN_MAX_AGE {args.conn_max_age}, DEBUG "
                f"{'on' if args.debug else 'off'}, logs at INFO; broker and results: Redis "
                f"{redact(broker)}, queue {queue}"
            )
            print(f"pacing: {describe_pace(args)}")
            print(f"machine: {os.cpu_count()} CPUs, {load_average()} at the start")
            print(
                f"baseline: SentryHub's Slack task as of {sentryhub_baseline.SENTRYHUB_REPOSITORY}"
                f"@{sentryhub_baseline.SENTRYHUB_COMMIT[:12]} (bench/sentryhub_baseline.py)"
            )
            rng = random.Random(args.seed)
            create_rules(args.rules, rng)
            create_sentryhub_rules()
            warmup = create_alerts("warmup", profile.warmup, rng)
            probed = create_alerts("probe", profile.probe, rng)
            rounds_alerts = [
                create_alerts(f"round{r}", profile.messages, rng)
                for r in range(1, profile.rounds + 1)
            ]
            everything = [*warmup, *probed, *(a for alerts in rounds_alerts for a in alerts)]
            fan_out = create_fan_out(len(everything), rng)
            progress(f"host signal path: {len(everything)} alerts through both receivers…")
            signal_times, messages = signal_path(
                everything, probed, skip=len(warmup), fan_out=fan_out
            )
            client.delete(sink)

            def batch(variant: str, alerts: Sequence[Notification]) -> list[Message]:
                return [messages[variant][item.alert.pk] for item in alerts]

            from tests.celery_app import app

            profile_dir = workdir / "profiles" if args.profile else None
            if profile_dir is not None:
                profile_dir.mkdir()
            with slack_target(args.nginx, workdir) as (slack, endpoint, target):
                print(
                    f"Slack: {target}; {args.rules} rules; {profile.messages} messages per "
                    f"variant and round, {profile.rounds} rounds; seed {args.seed}"
                    f"{'; --quick' if args.quick else ''}\n"
                )
                log = workdir / "worker.log"
                progress("starting the worker…")
                with celery_worker(
                    queue=queue,
                    database=args.pg_db,
                    pg=(args.pg_host, args.pg_port, args.pg_user),
                    broker=broker,
                    endpoint=endpoint,
                    probe_key=probe_key,
                    log=log,
                    debug=args.debug,
                    profile_dir=profile_dir,
                    pace=worker_pace(args),
                    conn_max_age=args.conn_max_age,
                ) as worker:
                    runner = Runner(app, client, slack, queue, probe_key, log, worker.pid)
                    progress("warming up the worker…")
                    for variant in VARIANTS:
                        runner.run(variant, batch(variant, warmup))
                    progress("probing queries in the worker…")
                    probes = {v: runner.probe(v, batch(v, probed)) for v in VARIANTS}
                    rounds: list[Round] = []
                    for number, alerts in enumerate(rounds_alerts, 1):
                        order = VARIANTS if number % 2 else VARIANTS[::-1]
                        this = Round(number, order)
                        for variant in order:
                            progress(f"round {number}/{profile.rounds}: {variant}…")
                            rate, cpu = runner.run(variant, batch(variant, alerts))
                            this.rate[variant], this.cpu[variant] = rate, cpu
                        rounds.append(this)
        finished = True
    except BenchmarkError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 2
    finally:
        if not finished:
            print(f"(the worker's and this process's logs are in {workdir})", file=sys.stderr)
        keys = [probe_key]
        for name in (queue, sink):  # the list and kombu's binding tables of each queue
            keys += [name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}"]
        if runner is not None:
            keys.extend(runner.result_keys)
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    try:
        report(rounds, probes, signal_times, profile, args)
        if args.queries and runner is not None:
            for variant in VARIANTS:
                sample = runner.samples[variant]
                print(f"\n{variant}: a message the fake Slack received ({sample['channel']}):")
                print("  " + sample["text"].replace("\n", "\n  "))
        if args.profile:
            print_profiles(probes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n(total {time.perf_counter() - started:.1f} s; {load_average()} at the end)")
    return 0


#: The worker's pace unless --no-pacing: no batch comes near it, so every delivery takes
#: its destination's slot (one UPDATE, as in production) and none ever waits. At the
#: package's default (1 message per second per channel) the rounds would measure digests.
UNREACHED_PACE = ("1000000", "1000000")


def worker_pace(args: Any) -> tuple[str, str]:
    return ("none", "1") if args.no_pacing else UNREACHED_PACE


def describe_pace(args: Any) -> str:
    if args.no_pacing:
        return 'off (SLACK_RULES["CHANNEL_RATE"] = None): no slot to take'
    rate, burst = UNREACHED_PACE
    return (
        f"CHANNEL_RATE {int(rate):,}/s, CHANNEL_BURST {int(burst):,}: each delivery takes "
        "its slot (one UPDATE) and none waits"
    )


def load_average() -> str:
    """The 1-minute load average: the benchmark's figures depend on how busy the machine is."""
    try:
        return f"load average {os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "load average unknown"


def redact(url: str) -> str:
    """The broker URL without a password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path}"


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


# -- report ----------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(
    rounds: Sequence[Round],
    probes: dict[str, Probe],
    signal_times: dict[str, SignalTimes],
    profile: WorkerProfile,
    args: Any,
) -> None:
    print(f"throughput: {profile.messages} messages per variant and round, through the worker")
    header = (
        f"{'round':<6}{'first':<11}{'package msg/s':>14}{'SentryHub msg/s':>17}{'ratio':>8}"
        f"{'package CPU':>14}{'SentryHub CPU':>15}"
    )
    print(header)
    print("-" * len(header))

    def cpu(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f} ms"

    for r in rounds:
        print(
            f"{r.number:<6}{r.order[0]:<11}{r.rate[PACKAGE]:>14,.1f}{r.rate[SENTRYHUB]:>17,.1f}"
            f"{r.ratio:>7.2f}{TIMES}{cpu(r.cpu[PACKAGE].worker):>14}"
            f"{cpu(r.cpu[SENTRYHUB].worker):>15}"
        )
    package = median([r.rate[PACKAGE] for r in rounds])
    sentryhub = median([r.rate[SENTRYHUB] for r in rounds])

    def cpu_median(variant: str, part: str) -> float | None:
        values = [c for r in rounds if (c := getattr(r.cpu[variant], part)) is not None]
        return median(values) if values else None

    cpu_medians = {v: cpu_median(v, "worker") for v in VARIANTS}
    print("-" * len(header))
    print(
        f"{'median':<17}{package:>14,.1f}{sentryhub:>17,.1f}{package / sentryhub:>7.2f}{TIMES}"
        f"{cpu(cpu_medians[PACKAGE]):>14}{cpu(cpu_medians[SENTRYHUB]):>15}"
    )
    print(
        f"\npackage/SentryHub throughput: {package / sentryhub:.2f}{TIMES} "
        f"({package:,.1f} vs {sentryhub:,.1f} msg/s, median of {len(rounds)} rounds); "
        f"median of the rounds' ratios {median([r.ratio for r in rounds]):.2f}{TIMES}"
    )
    print(
        "(msg/s: from the first message queued to the last one the fake Slack received; CPU: "
        "user + system time of the worker's processes per message, until every task of the "
        "batch had finished)"
    )

    print("\nCPU ms per message (medians of the rounds)")
    header = f"{'':<34}{'package':>14}{'SentryHub':>14}"
    print(header)
    print("-" * len(header))
    for part, title in CPU_PARTS.items():
        cells = [cpu(cpu_median(v, part)) for v in VARIANTS]
        print(f"{title:<34}{cells[0]:>14}{cells[1]:>14}")
    print(
        "(PostgreSQL: its backends that ended during the batch, one per task; machine: every "
        "process, the benchmark's own included)"
    )

    print(f"\nper delivery, inside the worker (probe: {profile.probe} tasks each)")
    header = f"{'':<34}{'package':>14}{'SentryHub':>14}"
    print(header)
    print("-" * len(header))
    rows: list[tuple[str, Callable[[Probe], str]]] = [
        ("queries (+transaction control)", lambda p: str(p.queries)),
        ("database connections opened", lambda p: spread_text(p.connections)),
    ]
    rows.extend(
        (f"{title}, ms", lambda p, part=part: f"{median(p.ms[part]):.2f}")
        for part, title in TIME_PARTS.items()
    )
    for title, cell in rows:
        print(f"{title:<34}{cell(probes[PACKAGE]):>14}{cell(probes[SENTRYHUB]):>14}")
    print(
        "(medians; measured with Django's SQL log on, so a little slower than in the rounds; "
        "a statement outside atomic commits as it executes)"
    )

    print("\nhost signal path, in the driver process (µs per alert, median)")
    header = f"{'':<34}{'package':>14}{'SentryHub':>14}"
    print(header)
    print("-" * len(header))
    rows = [
        ("alert_processed.send()", lambda t: f"{median(t.send_us):,.0f}"),
        ("host transaction with commit", lambda t: f"{median(t.transaction_us):,.0f}"),
        ("queries (+transaction control)", lambda t: str(t.queries)),
    ]
    for title, cell in rows:
        print(f"{title:<34}{cell(signal_times[PACKAGE]):>14}{cell(signal_times[SENTRYHUB]):>14}")
    fan_out = median(signal_times[PACKAGE_FAN_OUT].send_us)
    print(f"{'alert_processed.send(), 3 rules':<34}{fan_out:>14,.0f}{'-':>14}")
    print(
        f"(the receiver matches among {args.rules} rules inside the host's transaction, "
        "records the deliveries there and queues their tasks at commit: the commit and the "
        "publish to Redis are in the second line)"
    )
    sentryhub_send = median(signal_times[SENTRYHUB].send_us)
    one = median(signal_times[PACKAGE].send_us) / sentryhub_send
    three = fan_out / sentryhub_send
    print(
        f"receiver/SentryHub's handler, alert_processed.send(): 1 rule {one:.2f}{TIMES} "
        f"(budget 1.00{TIMES}), 3 rules {three:.2f}{TIMES} (budget 1.50{TIMES})"
    )
    if args.queries:
        for variant in VARIANTS:
            probe = probes[variant]
            print_statements(
                f"{variant}: one task in the worker (median time of each statement)",
                probe.queries,
                probe.example_times(),
            )
        for variant in VARIANTS:
            print_statements(f"{variant}: the host's transaction", signal_times[variant].queries)


def spread_text(values: Sequence[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def print_statements(title: str, queries: Queries, times: Sequence[str] = ()) -> None:
    control = sum(1 for s in queries.example if is_transaction_control(s))
    print(f"\n{title}: {len(queries.example) - control} queries (+{control} transaction control)")
    times = list(times) or [""] * len(queries.example)
    for i, (statement, took) in enumerate(zip(queries.example, times), 1):
        text = " ".join(statement.split())
        print(f"  {i:>2}. {took:>9}  {text[:200]}{'…' if len(text) > 200 else ''}")


def print_profiles(probes: dict[str, Probe], limit: int = 30) -> None:
    import io
    import pstats

    for variant in VARIANTS:
        files = probes[variant].profiles
        if not files:
            continue
        out = io.StringIO()
        stats = pstats.Stats(*files, stream=out)
        stats.sort_stats("cumulative").print_stats(limit)
        print(f"\ncProfile of {len(files)} probed {variant} tasks (cumulative):")
        print(out.getvalue().rstrip())
