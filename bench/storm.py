"""An alert storm through a real Celery worker: the package against a naive per-alert task.

Run from the repository root with an env that has the test dependencies and psycopg::

    python -m tox -e py312-django42-postgres --notest      # once
    .tox/py312-django42-postgres/bin/python bench/storm.py            # 2,000 alerts in 10 s
    .tox/py312-django42-postgres/bin/python bench/storm.py --quick    # 60 alerts in 2 s (CI)
    .tox/py312-django42-postgres/bin/python bench/storm.py --channels 1 --alerts 500 --check

The setup: PostgreSQL (a database created and dropped for the run), Redis as the broker,
one ``celery worker --pool=prefork --concurrency=2`` of the test host
(``bench/worker_settings.py``; the package's settings at their defaults: 1 message per
second per channel, bursts of 3, a digest when more than 10 wait), and the fake Slack
enforcing Slack's pace: 1 message per second per channel, a burst of 5, ``429`` with
``Retry-After`` beyond it (``tests/fake_slack.py``).

For 1 channel, then for 5 (the alerts round-robin over them), two variants run one after
the other on the same worker and Slack, each with alerts of its own:

* **package**: the host processes each alert in a transaction and sends its signal; the
  package's receiver queues its task at commit (as in production), ``--alerts`` alerts
  spread evenly over ``--seconds``. Time runs from the first alert until every alert is
  accounted for in the delivery log: sent, or folded into a digest Slack accepted;
* **naive**: a task per alert shaped like SentryHub's (``bench/storm_naive.py``) queued the
  same way, which posts at once and drops what Slack refuses. Time runs until it has
  posted every alert once.

Printed for each: the time, the requests Slack received (and per channel, the most),
the 429s, the requests made inside a ``Retry-After`` window, the digests, the alerts lost
(never shown in Slack) and the duplicates (a message Slack accepted twice), against the
targets: at most 60 s, about 70 requests for one channel, none inside a Retry-After
window, none lost, none twice. Exit 2 when the package lost or duplicated an alert;
with ``--check``, 1 when it missed another target. See bench/README.md.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django
from databases import postgres_database
from scenario import BenchmarkError, Notification

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test suite's settings and host app (tests/)

from worker_mode import (  # noqa: E402 - after the path for tests/
    celery_worker,
    load_average,
    make_setup_django,
    redact,
    tail,
)

PACKAGE, NAIVE = "package", "naive"
SLACK_RATE, SLACK_BURST = 1.0, 5
TARGET_SECONDS = 60.0
TARGET_REQUESTS = 70  # for one channel
ALERTNAMES = ("HighCPU", "DiskFull", "NodeDown", "HighLatency", "PodCrashLooping")
SEVERITIES = ("critical", "warning")

#: The message of both variants, in the names each offers (a unique fingerprint in each).
TEMPLATE = (
    "{% if severity == 'critical' %}:red_circle:{% else %}:large_orange_circle:{% endif %} "
    "*{{ alertname }}* ({{ severity }}) on {{ instance }} [{{ fingerprint }}]\n{{ summary }}"
)
NAIVE_TEMPLATE = (
    "{% if alert_group.severity == 'critical' %}:red_circle:{% else %}:large_orange_circle:"
    "{% endif %} *{{ alert_group.name }}* ({{ alert_group.severity }}) on "
    "{{ alert_group.instance }} [{{ alert_group.fingerprint }}]\n{{ summary }}"
)


@dataclass
class Figures:
    """One variant's storm."""

    variant: str
    alerts: int
    channels: int
    seconds: float = 0.0
    finished: bool = True  # False: the timeout ended the wait
    requests: int = 0
    most_to_one_channel: int = 0
    rate_limited: int = 0
    inside_retry_after: int = 0
    digests: int = 0
    lost: int = 0
    duplicates: int = 0
    notes: list[str] = field(default_factory=list)


# -- data ----------------------------------------------------------------------------------


def create_rules() -> tuple[Any, Any]:
    """The package's rule and SentryHub's in-tree rule for the storm's alerts: the channel
    comes from the alert's ``channel`` label."""
    from django_slack_rules.models import SlackIntegrationRule
    from tests.legacy_integrations.models import SlackIntegrationRule as LegacyRule

    rule = SlackIntegrationRule.objects.create(
        name="storm", match_criteria={"team": "storm"}, message_template=TEMPLATE
    )
    legacy = LegacyRule.objects.create(
        name="storm",
        match_criteria={"labels__team": "storm"},
        message_template=NAIVE_TEMPLATE,
    )
    return rule, legacy


def create_alerts(prefix: str, count: int, channels: int, rng: random.Random) -> list[Any]:
    """``count`` firing alerts, round-robin over ``channels`` channels, each with its
    occurrence."""
    from django.utils import timezone

    from tests.alerts.models import AlertGroup, AlertInstance

    groups = []
    for i in range(count):
        name, severity = rng.choice(ALERTNAMES), rng.choice(SEVERITIES)
        channel = "storm" if channels == 1 else f"storm-{i % channels + 1}"
        instance = f"node-{i:05d}"
        groups.append(
            AlertGroup(
                fingerprint=f"{prefix}-{i:05d}",
                name=name,
                labels={
                    "alertname": name,
                    "severity": severity,
                    "instance": instance,
                    "team": "storm",
                    "channel": channel,
                },
                severity=severity,
                instance=instance,
                current_status="firing",
            )
        )
    AlertGroup.objects.bulk_create(groups)
    groups = list(AlertGroup.objects.filter(fingerprint__startswith=f"{prefix}-").order_by("pk"))
    now = timezone.now()
    instances = AlertInstance.objects.bulk_create(
        AlertInstance(
            alert_group=group,
            status="firing",
            started_at=now,
            annotations={"summary": f"{group.name} on {group.instance} for 5 minutes"},
        )
        for group in groups
    )
    return [Notification(g, i) for g, i in zip(groups, instances)]


# -- the storms ------------------------------------------------------------------------------


def spread(alerts: Sequence[Notification], seconds: float, send: Any) -> float:
    """Call ``send(alert)`` for each alert, evenly over ``seconds``; the start time."""
    pause = threading.Event()
    started = time.perf_counter()
    for i, alert in enumerate(alerts):
        ahead = started + i * seconds / len(alerts) - time.perf_counter()
        if ahead > 0:
            pause.wait(ahead)
        send(alert)
    return started


def poll(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.1)
    return True


def slack_figures(figures: Figures, slack: Any) -> collections.Counter[str]:
    """Fill in what Slack saw; the texts it accepted, with how often."""
    requests = slack.requests
    limited = {id(r) for r in slack.rate_limited}
    accepted = [r for r in requests if id(r) not in limited]
    figures.requests = len(requests)
    per_channel = collections.Counter(r.json().get("channel") for r in requests)
    figures.most_to_one_channel = max(per_channel.values(), default=0)
    figures.rate_limited = len(limited)
    figures.inside_retry_after = len(slack.inside_retry_after)
    texts = collections.Counter(r.json().get("text", "") for r in accepted)
    figures.duplicates = sum(n - 1 for n in texts.values())
    return texts


def run_package(alerts: Sequence[Notification], channels: int, args: Any, slack: Any) -> Figures:
    from django.db import transaction
    from django.db.models import Q

    from django_slack_rules.models import SlackDelivery
    from tests.alerts.models import AlertGroup
    from tests.alerts.signals import alert_processed

    figures = Figures(PACKAGE, len(alerts), channels)
    slack.reset()
    slack.limit_channels(SLACK_RATE, SLACK_BURST)
    before = SlackDelivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    ids = [str(a.alert.pk) for a in alerts]
    mine = SlackDelivery.objects.filter(pk__gt=before)

    def process(item: Notification) -> None:
        with transaction.atomic():  # the host's transaction: the task is queued at commit
            alert_processed.send(
                sender=AlertGroup, alert_group=item.alert, instance=item.instance, status="firing"
            )

    def accounted() -> bool:  # sent alone, or folded into a digest that was sent
        done = mine.filter(alert_id__in=ids).filter(
            Q(state="sent") | Q(state="digested", digest__state="sent")
        )
        return done.exclude(alert_status="digest").count() == len(alerts)

    started = spread(alerts, args.seconds, process)
    figures.finished = poll(accounted, args.timeout)
    figures.seconds = time.perf_counter() - started
    texts = slack_figures(figures, slack)
    digests = {d.pk: d.text for d in mine.filter(alert_status="digest")}
    figures.digests = len(digests)
    shown = 0
    for state, digest_id, text in mine.filter(alert_id__in=ids).values_list(
        "state", "digest_id", "text"
    ):
        if (state == "sent" and texts[text]) or (
            state == "digested" and texts[digests.get(digest_id, "\0")]
        ):
            shown += 1
    figures.lost = len(alerts) - shown
    singles = mine.filter(alert_id__in=ids, state="sent").count()
    figures.notes.append(f"{singles} sent alone, {len(alerts) - singles} in digests")
    return figures


def run_naive(
    alerts: Sequence[Notification],
    channels: int,
    legacy: Any,
    args: Any,
    slack: Any,
    app: Any,
    result_keys: list[str],
) -> Figures:
    """The naive task's storm; the Redis keys of its results (stored, as SentryHub's are)
    go to ``result_keys``."""
    from functools import partial

    from django.db import transaction
    from storm_naive import TASK_NAME

    figures = Figures(NAIVE, len(alerts), channels)
    slack.reset()
    slack.limit_channels(SLACK_RATE, SLACK_BURST)

    def queue(kwargs: dict[str, Any]) -> None:
        result_keys.append(f"celery-task-meta-{app.send_task(TASK_NAME, kwargs=kwargs).id}")

    def process(item: Notification) -> None:
        with transaction.atomic():  # as SentryHub's receiver: the task is queued at commit
            transaction.on_commit(
                partial(queue, {"alert_group_id": item.alert.pk, "rule_id": legacy.pk})
            )

    started = spread(alerts, args.seconds, process)
    figures.finished = poll(lambda: len(slack.requests) >= len(alerts), args.timeout)
    figures.seconds = time.perf_counter() - started
    texts = slack_figures(figures, slack)
    figures.lost = len(alerts) - len(texts)
    return figures


# -- the run ----------------------------------------------------------------------------------


def run(args: Any) -> int:
    import redis

    from tests.fake_slack import ChannelLimit, FakeSlack

    client = redis.Redis.from_url(args.redis_url)
    try:
        client.ping()
    except redis.RedisError as exc:
        print(f"Redis is not reachable at {args.redis_url} ({exc})", file=sys.stderr)
        return 1
    run_id = f"dsr-storm-{os.getpid()}-{int(time.time())}"
    workdir = Path(tempfile.mkdtemp(prefix="dsr-bench-storm-"))
    results: list[tuple[Figures, Figures]] = []
    result_keys: list[str] = []
    started = time.perf_counter()
    log = workdir / "worker.log"
    try:
        setup = make_setup_django(args.redis_url, run_id, workdir / "driver.log")
        database = postgres_database(setup, args.pg_host, args.pg_port, args.pg_user, args.pg_db)
        with database as description:
            import celery

            from django_slack_rules.conf import slack_rules_settings
            from tests.celery_app import app

            print(
                f"django-slack-rules storm benchmark: Python {platform.python_version()}, "
                f"Django {django.get_version()}, Celery {celery.__version__}, {description}"
            )
            print(
                f"worker: prefork, 2 processes; Redis {redact(args.redis_url)}; package "
                f"pacing at its defaults: CHANNEL_RATE {slack_rules_settings.CHANNEL_RATE:g}/s, "
                f"CHANNEL_BURST {slack_rules_settings.CHANNEL_BURST}, DIGEST_AFTER "
                f"{slack_rules_settings.DIGEST_AFTER}"
            )
            print(
                f"Slack: the fake, {SLACK_RATE:g} message/s per channel, burst {SLACK_BURST}, "
                f"429 + Retry-After beyond it; {os.cpu_count()} CPUs, {load_average()}\n"
            )
            rng = random.Random(args.seed)
            _rule, legacy = create_rules()
            with contextlib.ExitStack() as stack:
                limit = ChannelLimit(SLACK_RATE, SLACK_BURST)
                slack = stack.enter_context(FakeSlack(channel_limit=limit))
                stack.enter_context(
                    celery_worker(
                        queue=run_id,
                        database=args.pg_db,
                        pg=(args.pg_host, args.pg_port, args.pg_user),
                        broker=args.redis_url,
                        endpoint=f"{slack.url}/slack-proxy/",
                        probe_key=f"{run_id}:probe",
                        log=log,
                        debug=False,
                        profile_dir=None,
                        include="storm_naive",
                    )
                )
                for channels in args.channels:
                    progress(f"{args.alerts} alerts to {channels} channel(s): the package…")
                    ours = create_alerts(f"p{channels}", args.alerts, channels, rng)
                    package = run_package(ours, channels, args, slack)
                    progress(f"{args.alerts} alerts to {channels} channel(s): the naive task…")
                    theirs = create_alerts(f"n{channels}", args.alerts, channels, rng)
                    naive = run_naive(theirs, channels, legacy, args, slack, app, result_keys)
                    results.append((package, naive))
    except BenchmarkError as exc:
        print(f"\nFAILED: {exc}\n{tail(log)}", file=sys.stderr)
        return 2
    finally:
        keys = [run_id, f"_kombu.binding.{run_id}", f"_kombu.binding_permanent.{run_id}"]
        keys += result_keys
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        shutil.rmtree(workdir, ignore_errors=True)
    missed = report(results, args)
    print(f"\n(total {time.perf_counter() - started:.1f} s; {load_average()} at the end)")
    if any(p.lost or p.duplicates or not p.finished for p, _ in results):
        return 2
    return 1 if args.check and missed else 0


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


# -- report ---------------------------------------------------------------------------------


def report(results: Sequence[tuple[Figures, Figures]], args: Any) -> int:
    """Print the figures side by side and the targets; how many targets were missed."""
    missed = 0
    for package, naive in results:
        print(
            f"{package.alerts:,} firing alerts in {args.seconds:g} s to {package.channels} "
            f"channel{'s' if package.channels > 1 else ''}"
        )
        header = f"{'':<44}{'package':>12}{'naive':>12}"
        print(header)
        print("-" * len(header))
        rows = [
            ("time until every alert is accounted for, s", "seconds", "{:.1f}"),
            ("requests Slack received", "requests", "{:,}"),
            ("  the most to one channel", "most_to_one_channel", "{:,}"),
            ("  answered 429 (rate-limited)", "rate_limited", "{:,}"),
            ("requests inside a Retry-After window", "inside_retry_after", "{:,}"),
            ("digests", "digests", "{:,}"),
            ("alerts lost (never shown in Slack)", "lost", "{:,}"),
            ("duplicates (accepted twice)", "duplicates", "{:,}"),
        ]
        for title, name, style in rows:
            cells = [style.format(getattr(f, name)) for f in (package, naive)]
            print(f"{title:<44}{cells[0]:>12}{cells[1]:>12}")
        for figures in (package, naive):
            if not figures.finished:
                print(f"({figures.variant}: stopped waiting after --timeout {args.timeout:g} s)")
        print(f"(package: {'; '.join(package.notes)}; naive: every alert posted once, a 429 "
              "dropped)")  # fmt: skip
        targets = [
            (f"accounted for within {TARGET_SECONDS:g} s", package.seconds <= TARGET_SECONDS),
            (
                f"at most about {TARGET_REQUESTS} requests to a channel",
                package.most_to_one_channel <= TARGET_REQUESTS,
            ),
            ("no request inside a Retry-After window", package.inside_retry_after == 0),
            ("no alert lost", package.lost == 0 and package.finished),
            ("no duplicate", package.duplicates == 0),
        ]
        for title, ok in targets:
            missed += not ok
            print(f"  {'PASS' if ok else 'FAIL'}  {title}")
        print()
    return missed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, help="firing alerts per storm (default: 2,000)")
    parser.add_argument("--seconds", type=float, help="over how long (default: 10)")
    parser.add_argument(
        "--channels", default="1,5", help="storms to run: channels per storm (default: 1,5)"
    )
    parser.add_argument("--quick", action="store_true", help="60 alerts in 2 s (CI runs this)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="the longest wait for a storm (default: 300)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--seed", type=int, default=20241130)
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    parser.add_argument("--pg-db", default="dsr_bench_storm", help="created and dropped")
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/14",
        help="the broker (default: %(default)s); the run's queue is deleted at the end",
    )
    args = parser.parse_args(argv)
    args.alerts = args.alerts or (60 if args.quick else 2000)
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)
    try:
        args.channels = [int(c) for c in args.channels.split(",") if c]
    except ValueError:
        parser.error("--channels: comma-separated numbers, e.g. 1,5")
    if args.alerts < 1 or args.seconds <= 0 or not args.channels or min(args.channels) < 1:
        parser.error("--alerts, --seconds and --channels must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
