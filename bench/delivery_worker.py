"""``bench/delivery.py --worker``: msg/s through a real Celery worker, the package against
SentryHub's own Slack task (``sentryhub_baseline.py``), on the same worker, broker, database
and fake Slack, with the same alerts and mirrored rules. See bench/README.md.

1. the host's signal path, in this process: every alert through both receivers (timed);
   the messages they queue are recorded, not run;
2. the worker (``worker.py``), warmed up with messages of both variants;
3. a probe: a few messages carry a header that makes ``worker_probe.py`` measure the task
   inside the worker (its SQL, connections, where its time went);
4. A/B rounds: one variant's batch is queued, timed until the fake Slack has it all, then
   checked (every delivery sent once; every SentryHub task a success); the other variant.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Sequence
from typing import Any

import scenario
from cpu import CpuUse
from data import create_alerts, create_fan_out, create_rules, create_sentryhub_rules
from delivery_worker_report import Probe, Round, print_profiles, report
from receivers import PACKAGE, VARIANTS, Message, signal_path
from scenario import BenchmarkError, database, load_average, progress
from worker import Run, celery_worker, redact, slack_target, tail, wait_for, worker_run

PROBE_HEADER = "dsr_bench_probe"  # bench/worker_probe.py
BATCH_TIMEOUT_MIN = 60.0  # seconds a batch may take at least, before it counts as stuck
#: The worker's pace unless --no-pacing: no batch comes near it, so every delivery takes its
#: destination's slot (one UPDATE, as in production) and none ever waits.
UNREACHED_PACE = ("1000000", "1000000")


class Batches:
    """Queues batches of messages to the worker and waits until each batch is done."""

    def __init__(self, run: Run, slack: Any, worker_pid: int) -> None:
        from tests.celery_app import app

        self.app, self.redis, self.slack, self.worker_pid = app, run.redis, slack, worker_pid
        self.queue, self.log, self.probe_key = run.queue, run.log, f"{run.queue}:probe"
        self.result_keys = run.keys  # deleted at the end of the run
        self.result_keys.append(self.probe_key)
        self.samples: dict[str, Any] = {}

    def run(
        self, variant: str, messages: Sequence[Message], probe: bool = False
    ) -> tuple[float, CpuUse]:
        """Queue ``messages``, wait until all are delivered and recorded: msg/s, CPU."""
        n = len(messages)
        self.slack.reset()
        headers = {PROBE_HEADER: variant} if probe else None
        cpu_before = CpuUse.counters(self.worker_pid)
        started = time.monotonic()
        with self.app.producer_or_acquire() as producer:
            task_ids = [
                self.app.send_task(
                    m.task,
                    args=m.args,
                    kwargs=m.kwargs,
                    queue=self.queue,
                    producer=producer,
                    headers=headers,
                ).id
                for m in messages
            ]
        try:
            received = self.slack.wait_for_requests(n, timeout=max(BATCH_TIMEOUT_MIN, n * 0.2))
        except AssertionError as exc:
            raise BenchmarkError(f"{variant}: {exc}\n--- worker log:\n{tail(self.log)}") from None
        elapsed = max(r.received_at for r in received[:n]) - started
        self.check_done(variant, messages, task_ids)
        cpu = CpuUse.between(cpu_before, CpuUse.counters(self.worker_pid), n)
        if len(self.slack.requests) != n:
            raise BenchmarkError(
                f"{variant}: the fake Slack received {len(self.slack.requests)} requests for {n} messages"
            )
        for request in received:
            body = request.json()
            if not (isinstance(body, dict) and body.get("text") and body.get("channel")):
                raise BenchmarkError(f"{variant}: a request without channel or text: {body!r}")
        self.samples[variant] = received[0].json()
        return n / elapsed, cpu

    def check_done(self, variant: str, messages: Sequence[Message], task_ids: list[str]) -> None:
        """Wait (bounded) until every task has done its bookkeeping and the queue is empty."""
        n = len(messages)
        if variant == PACKAGE:
            from django_slack_rules.models import SlackDelivery

            mine = SlackDelivery.objects.filter(alert_id__in=[str(m.alert_id) for m in messages])
            wait_for(
                lambda: mine.count() >= n and not mine.exclude(state="sent").exists(),
                BATCH_TIMEOUT_MIN,
                f"{n} package deliveries recorded as sent",
            )
            states = list(mine.values_list("state", "attempts"))
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
        for measured in reports:
            probe.add(measured)
        return probe


def run(args: argparse.Namespace) -> int:
    import celery
    import requests
    import sentryhub_baseline

    messages_each = args.messages or (20 if args.quick else 300)
    rounds_n = args.rounds or (2 if args.quick else 3)
    warmup_n, probe_n = (6, 4) if args.quick else (40, 20)
    started = time.perf_counter()
    with worker_run(args, "bench") as run:
        sink = f"{run.queue}-signal-path"  # what this process queues: recorded, not run
        run.queues.append(sink)
        with database(args, run.settings(args.redis_url, sink), CONN_MAX_AGE=0) as description:
            from tests.celery_app import app

            app.conf.task_always_eager = False
            scenario.header(
                "delivery benchmark, through a Celery worker",
                f"Celery {celery.__version__}",
                f"requests {requests.__version__}",
                description,
            )
            print(
                f"worker: prefork, 2 processes, CONN_MAX_AGE {args.conn_max_age}, DEBUG "
                f"{'on' if args.debug else 'off'}, logs at INFO; broker and results: Redis "
                f"{redact(args.redis_url)}, queue {run.queue}"
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
            warmup = create_alerts("warmup", warmup_n, rng)
            probed = create_alerts("probe", probe_n, rng)
            rounds_alerts = [
                create_alerts(f"round{r}", messages_each, rng) for r in range(1, rounds_n + 1)
            ]
            everything = [*warmup, *probed, *(a for alerts in rounds_alerts for a in alerts)]
            fan_out = create_fan_out(len(everything), rng)
            progress(f"host signal path: {len(everything)} alerts through both receivers…")
            signal_times, messages = signal_path(
                everything, probed, skip=len(warmup), fan_out=fan_out
            )
            run.redis.delete(sink)

            def batch(variant: str, alerts: Sequence[Any]) -> list[Message]:
                return [messages[variant][item.alert.pk] for item in alerts]

            with slack_target(args.nginx, run.workdir) as (slack, endpoint, target):
                print(
                    f"Slack: {target}; {args.rules} rules; {messages_each} messages per "
                    f"variant and round, {rounds_n} rounds; seed {args.seed}"
                    f"{'; --quick' if args.quick else ''}\n"
                )
                progress("starting the worker…")
                env = worker_env(args, run)
                with celery_worker(
                    args, run, endpoint, "worker_probe,sentryhub_baseline", env
                ) as worker:
                    batches = Batches(run, slack, worker.pid)
                    progress("warming up the worker…")
                    for variant in VARIANTS:
                        batches.run(variant, batch(variant, warmup))
                    progress("probing queries in the worker…")
                    probes = {v: batches.probe(v, batch(v, probed)) for v in VARIANTS}
                    rounds: list[Round] = []
                    for number, alerts in enumerate(rounds_alerts, 1):
                        this = Round(number, VARIANTS if number % 2 else VARIANTS[::-1])
                        for variant in this.order:
                            progress(f"round {number}/{rounds_n}: {variant}…")
                            this.rate[variant], this.cpu[variant] = batches.run(
                                variant, batch(variant, alerts)
                            )
                        rounds.append(this)
        report(rounds, probes, signal_times, messages_each, probe_n, args)
        if args.queries:
            for variant in VARIANTS:
                sample = batches.samples[variant]
                print(f"\n{variant}: a message the fake Slack received ({sample['channel']}):")
                print("  " + sample["text"].replace("\n", "\n  "))
        if args.profile:
            print_profiles(probes)
    print(f"\n(total {time.perf_counter() - started:.1f} s; {load_average()} at the end)")
    return 0


def worker_env(args: argparse.Namespace, run: Run) -> dict[str, str]:
    """The worker's settings from the options (bench/worker_settings.py reads them)."""
    env = {
        "DSR_BENCH_PROBE_KEY": f"{run.queue}:probe",
        "DSR_BENCH_DEBUG": "1" if args.debug else "0",
        "DSR_BENCH_CONN_MAX_AGE": str(args.conn_max_age),
        "DSR_BENCH_CHANNEL_RATE": "none" if args.no_pacing else UNREACHED_PACE[0],
        "DSR_BENCH_CHANNEL_BURST": "1" if args.no_pacing else UNREACHED_PACE[1],
    }
    if args.profile:
        env["DSR_BENCH_PROFILE_DIR"] = str(run.workdir / "profiles")
        (run.workdir / "profiles").mkdir()
    return env


def describe_pace(args: argparse.Namespace) -> str:
    if args.no_pacing:
        return 'off (SLACK_RULES["CHANNEL_RATE"] = None): no slot to take'
    rate, burst = UNREACHED_PACE
    return (
        f"CHANNEL_RATE {int(rate):,}/s, CHANNEL_BURST {int(burst):,}: each delivery takes "
        "its slot (one UPDATE) and none waits"
    )


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("through a Celery worker, against SentryHub's task")
    group.add_argument("--worker", action="store_true", help="msg/s through a prefork worker")
    group.add_argument("--messages", type=int, help="per variant and round (300; --quick: 20)")
    group.add_argument("--nginx", action="store_true", help="post through the nginx gateway")
    group.add_argument("--debug", action="store_true", help="DEBUG = True in the worker")
    group.add_argument("--no-pacing", action="store_true", help="CHANNEL_RATE None in the worker")
    group.add_argument("--profile", action="store_true", help="cProfile the probed tasks")
    group.add_argument("--conn-max-age", type=int, default=0, help="the worker's (0, as SentryHub)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="broker, results")


def checked_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> bool:
    """Whether ``--worker`` is asked for, refusing its options without it."""
    names = ("messages", "nginx", "debug", "profile", "no_pacing", "conn_max_age")
    if not args.worker:
        if only := [f"--{n.replace('_', '-')}" for n in names if getattr(args, n)]:
            parser.error(f"{', '.join(only)}: only with --worker")
        return False
    if args.alerts:
        parser.error("--alerts is for the in-process benchmark; with --worker use --messages")
    if args.messages is not None and args.messages < 1:
        parser.error("--messages: at least 1")
    args.postgres = True  # always on PostgreSQL
    args.pg_db = "dsr_bench_worker" if args.pg_db == "dsr_bench_delivery" else args.pg_db
    return True
