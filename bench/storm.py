"""An alert storm through a real Celery worker: the package against a naive per-alert task.

``--alerts`` alerts over ``--seconds``, to 1 channel then 5, against a fake Slack paced like
Slack (1 message/s per channel, bursts of 5, then ``429``): the **package** at its default
pacing, until every alert is sent or in a digest Slack accepted; the **naive** task
(``storm_naive.py``) posts each once and drops what Slack refuses. Exit 2 when the package
lost or duplicated an alert; ``--check``: 1 when it missed another target.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import scenario
from data import Notification, bulk_alerts, notify
from worker import celery_worker, redact, slack_target, worker_run

SLACK_RATE, SLACK_BURST = 1.0, 5
TARGET_SECONDS = 60.0
TARGET_REQUESTS = 70  # for one channel
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
    """What Slack saw of one variant's storm."""

    alerts: int
    seconds: float = 0.0
    finished: bool = True  # False: the timeout ended the wait
    requests: int = 0
    most_to_one_channel: int = 0
    rate_limited: int = 0
    inside_retry_after: int = 0
    digests: int = 0
    lost: int = 0
    duplicates: int = 0
    texts: collections.Counter[str] = field(default_factory=collections.Counter)  # accepted
    notes: str = ""


def create_alerts(prefix: str, count: int, channels: int, rng: random.Random) -> list[Notification]:
    """``count`` firing alerts, round-robin over ``channels`` channels (their label)."""
    from django.utils import timezone

    now = timezone.now()
    labels = [
        {
            "alertname": rng.choice(
                ("HighCPU", "DiskFull", "NodeDown", "HighLatency", "PodCrashLooping")
            ),
            "severity": rng.choice(("critical", "warning")),
            "instance": f"node-{i:05d}",
            "team": "storm",
            "channel": "storm" if channels == 1 else f"storm-{i % channels + 1}",
        }
        for i in range(count)
    ]
    summary = lambda group: {"summary": f"{group.name} on {group.instance} for 5 minutes"}  # noqa: E731
    return bulk_alerts(prefix, [(each, now) for each in labels], summary)


def storm(
    alerts: Sequence[Notification],
    args: argparse.Namespace,
    slack: Any,
    process: Callable[[Notification], None],
    done: Callable[[], bool],
) -> Figures:
    """Slack paced afresh, ``process`` each alert, evenly over ``--seconds``, then wait until
    ``done`` (at most ``--timeout``): the time from the first alert, and what Slack saw."""
    figures = Figures(len(alerts))
    slack.reset()
    slack.limit_channels(SLACK_RATE, SLACK_BURST)
    pause = threading.Event()
    started = time.perf_counter()
    for i, alert in enumerate(alerts):
        pause.wait(max(0.0, started + i * args.seconds / len(alerts) - time.perf_counter()))
        process(alert)
    deadline = time.monotonic() + args.timeout
    while not (finished := done()) and time.monotonic() <= deadline:
        pause.wait(0.1)
    figures.seconds, figures.finished = time.perf_counter() - started, finished
    limited = {id(r) for r in slack.rate_limited}
    per_channel = collections.Counter(r.json().get("channel") for r in slack.requests)
    figures.requests, figures.rate_limited = len(slack.requests), len(limited)
    figures.most_to_one_channel = max(per_channel.values(), default=0)
    figures.inside_retry_after = len(slack.inside_retry_after)
    figures.texts.update(r.json().get("text", "") for r in slack.requests if id(r) not in limited)
    figures.duplicates = sum(n - 1 for n in figures.texts.values())
    return figures


def run_package(alerts: Sequence[Notification], args: argparse.Namespace, slack: Any) -> Figures:
    """The host sends its signal for each alert in a transaction of its own; the package's
    receiver queues its task at commit. Done when every alert is accounted for."""
    from django.db.models import Q

    from django_slack_rules.models import SlackDelivery

    before = SlackDelivery.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    mine = SlackDelivery.objects.filter(pk__gt=before)
    ids = [str(a.alert.pk) for a in alerts]

    def accounted() -> bool:  # sent alone, or folded into a digest that was sent
        done = mine.filter(alert_id__in=ids).filter(
            Q(state="sent") | Q(state="digested", digest__state="sent")
        )
        return done.exclude(alert_status="digest").count() == len(alerts)

    figures = storm(alerts, args, slack, notify, accounted)
    texts = figures.texts
    digests = {d.pk: d.text for d in mine.filter(alert_status="digest")}
    figures.digests = len(digests)
    shown = sum(
        1
        for state, digest_id, text in mine.filter(alert_id__in=ids).values_list(
            "state", "digest_id", "text"
        )
        if (state == "sent" and texts[text])
        or (state == "digested" and texts[digests.get(digest_id, "\0")])
    )
    figures.lost = len(alerts) - shown
    singles = mine.filter(alert_id__in=ids, state="sent").count()
    figures.notes = f"{singles} sent alone, {len(alerts) - singles} in digests"
    return figures


def run_naive(
    alerts: Sequence[Notification],
    args: argparse.Namespace,
    slack: Any,
    rule: Any,
    results: list[str],
) -> Figures:
    """As SentryHub's receiver, the naive task is queued at the host's commit; done when it
    has posted every alert. The Redis keys of its results go to ``results``."""
    from django.db import transaction
    from storm_naive import TASK_NAME

    from tests.celery_app import app

    def queue(alert_id: int) -> None:
        task = app.send_task(TASK_NAME, kwargs={"alert_group_id": alert_id, "rule_id": rule.pk})
        results.append(f"celery-task-meta-{task.id}")

    def process(item: Notification) -> None:
        with transaction.atomic():
            transaction.on_commit(lambda: queue(item.alert.pk))

    figures = storm(alerts, args, slack, process, lambda: len(slack.requests) >= len(alerts))
    figures.lost = len(alerts) - len(figures.texts)
    return figures


def run(args: argparse.Namespace) -> int:
    import celery

    started = time.perf_counter()
    results: list[tuple[Figures, Figures]] = []
    with (
        worker_run(args, "storm") as run,
        scenario.database(
            args, run.settings(args.redis_url, run.queue), CONN_MAX_AGE=0
        ) as description,
    ):
        from django_slack_rules.conf import slack_rules_settings as dsr
        from django_slack_rules.models import SlackIntegrationRule
        from tests.celery_app import app
        from tests.legacy_integrations.models import SlackIntegrationRule as LegacyRule

        app.conf.task_always_eager = False
        scenario.header("storm benchmark", f"Celery {celery.__version__}", description)
        print(
            f"worker: prefork, 2 processes; Redis {redact(args.redis_url)}; package pacing at "
            f"its defaults: CHANNEL_RATE {dsr.CHANNEL_RATE:g}/s, CHANNEL_BURST "
            f"{dsr.CHANNEL_BURST}, DIGEST_AFTER {dsr.DIGEST_AFTER}"
        )
        print(
            f"Slack: the fake, {SLACK_RATE:g} message/s per channel, burst {SLACK_BURST}, "
            f"429 + Retry-After beyond it; {os.cpu_count()} CPUs, {scenario.load_average()}\n"
        )
        rng = random.Random(args.seed)
        SlackIntegrationRule.objects.create(
            name="storm", match_criteria={"team": "storm"}, message_template=TEMPLATE
        )
        legacy = LegacyRule.objects.create(name="storm", match_criteria={"labels__team": "storm"}, message_template=NAIVE_TEMPLATE)  # fmt: skip
        with (
            slack_target(False, run.workdir) as (slack, endpoint, _),
            celery_worker(args, run, endpoint, "storm_naive"),
        ):
            for channels in args.channels:
                scenario.progress(f"{args.alerts} alerts to {channels} channel(s): the package…")
                alerts = create_alerts(f"p{channels}", args.alerts, channels, rng)
                package = run_package(alerts, args, slack)
                scenario.progress(f"{args.alerts} alerts to {channels} channel(s): the naive task…")
                alerts = create_alerts(f"n{channels}", args.alerts, channels, rng)
                results.append((package, run_naive(alerts, args, slack, legacy, run.keys)))
    missed = report(results, args)
    print(f"\n(total {time.perf_counter() - started:.1f} s; {scenario.load_average()} at the end)")
    if any(p.lost or p.duplicates or not p.finished for p, _ in results):
        return 2
    return 1 if args.check and missed else 0


def report(results: Sequence[tuple[Figures, Figures]], args: argparse.Namespace) -> int:
    """Print each storm's figures side by side and the targets; how many were missed."""
    missed = 0
    rows = {
        "time until every alert is accounted for, s": ("seconds", "{:.1f}"),
        "requests Slack received": ("requests", "{:,}"),
        "  the most to one channel": ("most_to_one_channel", "{:,}"),
        "  answered 429 (rate-limited)": ("rate_limited", "{:,}"),
        "requests inside a Retry-After window": ("inside_retry_after", "{:,}"),
        "digests": ("digests", "{:,}"),
        "alerts lost (never shown in Slack)": ("lost", "{:,}"),
        "duplicates (accepted twice)": ("duplicates", "{:,}"),
    }
    for (package, naive), channels in zip(results, args.channels):
        print(
            f"{package.alerts:,} firing alerts in {args.seconds:g} s to {channels} channel{'s' if channels > 1 else ''}"
        )
        scenario.table(
            [("", -44), ("package", 12), ("naive", 12)],
            (
                [title, *(style.format(getattr(f, name)) for f in (package, naive))]
                for title, (name, style) in rows.items()
            ),
            sep="",
        )
        for variant, figures in (("package", package), ("naive", naive)):
            if not figures.finished:
                print(f"({variant}: stopped waiting after --timeout {args.timeout:g} s)")
        print(f"(package: {package.notes}; naive: every alert posted once, a 429 dropped)")
        targets = {
            f"accounted for within {TARGET_SECONDS:g} s": package.seconds <= TARGET_SECONDS,
            f"at most about {TARGET_REQUESTS} requests to a channel": package.most_to_one_channel
            <= TARGET_REQUESTS,
            "no request inside a Retry-After window": package.inside_retry_after == 0,
            "no alert lost": package.lost == 0 and package.finished,
            "no duplicate": package.duplicates == 0,
        }
        for title, ok in targets.items():
            missed += not ok
            print(f"  {'PASS' if ok else 'FAIL'}  {title}")
        print()
    return missed


def parse_args() -> argparse.Namespace:
    parser = scenario.options(
        __doc__, pg_db="dsr_bench_storm", quick="60 alerts in 2 s (CI runs this)", redis=True
    )
    parser.set_defaults(seed=20241130)
    parser.add_argument("--alerts", type=int, help="firing alerts per storm (default: 2,000)")
    parser.add_argument("--seconds", type=float, help="over how long (default: 10)")
    parser.add_argument("--channels", default="1,5", help="storms to run: channels per storm (1,5)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="the longest wait for a storm (300)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    args.alerts = args.alerts or (60 if args.quick else 2000)
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)
    args.channels = scenario.numbers(parser, "channels", args.channels)
    if args.alerts < 1 or args.seconds <= 0:
        parser.error("--alerts and --seconds must be positive")
    return args


if __name__ == "__main__":
    scenario.main(run, parse_args())
