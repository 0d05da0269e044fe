"""One notification through the package, against the least any implementation must do.

In one process (Celery eager, the locmem backend), per alert: the **package** (the host's
transaction sends ``alert_processed``; the receiver matches, renders and records; at commit
the task claims, sends and settles), the **baseline** (the same matcher, template engine,
service and outbox; nothing recorded, claimed or queued) and a **redelivery** (the task run
again for a delivery already sent). ``--worker`` compares msg/s through a real Celery worker
with SentryHub's own task instead (``delivery_worker.py``). See bench/README.md.
"""

from __future__ import annotations

import argparse
import logging
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from data import STATUS, Notification, create_alerts, create_rules
from scenario import (
    TIMES,
    BenchmarkError,
    Queries,
    database,
    host_settings,
    main,
    numbers,
    options,
    progress,
    table,
    us_per_call,
)


@dataclass
class SizeResult:
    alerts: int
    package_us: float
    baseline_us: float
    redelivery_us: float
    handler_q: Queries
    task_q: Queries
    baseline_q: Queries
    redelivery_q: Queries

    @property
    def ratio(self) -> float:
        return self.package_us / self.baseline_us


def package_notify(item: Notification) -> None:
    """The host processes an alert in a transaction and sends its signal; the package's
    receiver records the delivery and, at commit, its task runs (eagerly: no broker)."""
    from django.db import transaction

    from tests.alerts.models import AlertGroup
    from tests.alerts.signals import alert_processed

    with transaction.atomic():
        alert_processed.send(
            sender=AlertGroup, alert_group=item.alert, instance=item.instance, status=STATUS
        )


def make_baseline() -> Callable[[Notification], None]:
    """Match, render and send: the same matcher, template engine, service and outbox."""
    from django.db import transaction

    from django_slack_rules.adapters import get_adapter
    from django_slack_rules.conf import slack_rules_settings
    from django_slack_rules.rendering.templates import render_template
    from django_slack_rules.services.slack_matcher import SlackRuleMatcherService
    from django_slack_rules.services.slack_service import SlackService

    adapter, matcher = get_adapter(), SlackRuleMatcherService()

    def baseline_notify(item: Notification) -> None:
        labels = adapter.get_labels(item.alert)
        with transaction.atomic():  # the host's transaction, as for the package
            rule = matcher.find_matching_rule(labels)
        if rule is None:
            raise BenchmarkError(f"no rule matches {labels}")
        context = adapter.get_context(item.alert, rule=rule, status=STATUS, instance=item.instance)
        text = render_template(rule.template_for(STATUS), context)
        channel = rule.resolve_channel(labels, default=slack_rules_settings.DEFAULT_CHANNEL)
        SlackService().send_notification(channel, text)

    return baseline_notify


def redeliver(item: Notification, rule_id: int) -> None:
    """The task again, with the arguments the handler queued: as a broker redelivery."""
    from django_slack_rules.tasks import process_slack_for_alert_group

    state = process_slack_for_alert_group.apply(
        args=(item.alert.pk, rule_id),
        kwargs={"status": STATUS, "occurrence": str(item.instance.pk)},
    ).get()
    if state != "sent":
        raise BenchmarkError(f"redelivery of alert {item.alert.pk} returned {state!r}")


def outbox() -> list[Any]:
    from django_slack_rules.backends import locmem

    return locmem.outbox


def sent_messages(what: str, expected: int) -> list[tuple[str, str]]:
    """The outbox's (channel, text), emptied; it must hold ``expected`` messages."""
    messages = [(m.channel, m.text) for m in outbox()]
    if len(messages) != expected:
        raise BenchmarkError(f"{what}: {len(messages)} messages in the outbox, expected {expected}")
    outbox().clear()
    return messages


def reset_deliveries() -> None:
    from django_slack_rules.models import SlackDelivery

    SlackDelivery.objects.all().delete()
    outbox().clear()


def check_deliveries(items: Sequence[Notification], rule_ids: dict[Any, int]) -> None:
    """Every alert has exactly one delivery: sent, after one attempt, by the winning rule."""
    from django_slack_rules.models import SlackDelivery

    rows = list(SlackDelivery.objects.values_list("alert_id", "rule_id", "state", "attempts"))
    by_alert = {row[0]: row for row in rows}
    if len(rows) != len(items) or len(by_alert) != len(items):
        raise BenchmarkError(f"{len(rows)} delivery records for {len(items)} alerts")
    for item in items:
        _, rule_id, state, attempts = by_alert[str(item.alert.pk)]
        if (rule_id, state, attempts) != (rule_ids[item.alert.pk], "sent", 1):
            raise BenchmarkError(
                f"alert {item.alert.pk}: rule {rule_id}, {state}, {attempts} attempt(s); "
                f"expected rule {rule_ids[item.alert.pk]}, sent, 1 attempt"
            )


def count_queries(
    items: Sequence[Notification],
    baseline: Callable[[Notification], None],
    rule_ids: dict[Any, int],
) -> dict[str, Queries]:
    """Untimed: the queries of the handler (until the task starts, at commit), of the task,
    of the baseline and of a redelivery, for each sampled notification."""
    from celery.signals import task_prerun
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    found = {name: Queries() for name in ("handler", "task", "baseline", "redelivery")}
    variants = {
        "package": (package_notify, len(items)),
        "baseline": (baseline, len(items)),
        "redelivery": (lambda item: redeliver(item, rule_ids[item.alert.pk]), 0),
    }
    marks: list[int] = []

    def mark(**kwargs: Any) -> None:  # the task starts: the handler's statements end here
        marks.append(len(connection.queries_log))

    reset_deliveries()
    task_prerun.connect(mark, weak=False)
    try:
        for name, (fn, expected) in variants.items():
            for item in items:
                marks.clear()
                with CaptureQueriesContext(connection) as ctx:
                    fn(item)
                statements = [q["sql"] for q in ctx.captured_queries]
                if name != "package":
                    found[name].add(statements)
                    continue
                if len(marks) != 1:
                    raise BenchmarkError(f"the task ran {len(marks)} times for one alert")
                found["handler"].add(statements[: marks[0] - ctx.initial_queries])
                found["task"].add(statements[marks[0] - ctx.initial_queries :])
            sent_messages(f"query count, {name}", expected)
            if name == "package":
                check_deliveries(items, rule_ids)
    finally:
        task_prerun.disconnect(mark)
    return found


def run_size(n: int, args: argparse.Namespace, rng: random.Random) -> SizeResult:
    from django_slack_rules.services.slack_matcher import SlackRuleMatcherService

    progress(f"{n:>6,} alerts: creating…")
    items = create_alerts(f"bench{n}", n, rng)
    matcher = SlackRuleMatcherService()
    rule_ids = {item.alert.pk: matcher.find_matching_rule(item.alert.labels).pk for item in items}
    baseline = make_baseline()
    warmup = create_alerts(f"warmup{n}", args.warmup, rng)

    progress(f"{n:>6,} alerts: warming up…")
    for fn in (package_notify, baseline):
        reset_deliveries()
        for item in warmup:
            fn(item)
    reset_deliveries()

    samples: dict[str, list[float]] = {"package": [], "baseline": [], "redelivery": []}
    for round_ in range(1, args.rounds + 1):
        progress(f"{n:>6,} alerts: round {round_}/{args.rounds}…")
        reset_deliveries()
        # Alternate the order, so that neither path always runs on a warmer cache.
        sent = {}
        for name in ("baseline", "package") if round_ % 2 else ("package", "baseline"):
            samples[name].append(
                us_per_call(package_notify if name == "package" else baseline, items)
            )
            sent[name] = sent_messages(name, n)
        if sent["package"] != sent["baseline"]:
            first = next(
                i for i, (a, b) in enumerate(zip(sent["package"], sent["baseline"])) if a != b
            )
            raise BenchmarkError(
                f"alert {items[first].alert.pk}: the package sent {sent['package'][first]!r}, "
                f"the baseline {sent['baseline'][first]!r}"
            )
        check_deliveries(items, rule_ids)
        samples["redelivery"].append(
            us_per_call(lambda item: redeliver(item, rule_ids[item.alert.pk]), items)
        )
        sent_messages("redelivery", 0)

    sample = items[: args.query_sample]
    progress(f"{n:>6,} alerts: counting queries on {len(sample)} alerts…")
    queries = count_queries(sample, baseline, rule_ids)
    reset_deliveries()
    return SizeResult(
        n,
        *(statistics.median(samples[name]) for name in ("package", "baseline", "redelivery")),
        *(queries[name] for name in ("handler", "task", "baseline", "redelivery")),
    )


def report(results: Sequence[SizeResult], args: argparse.Namespace) -> None:
    table(
        [("alerts", 7), ("package µs/notif", 16), ("baseline µs/notif", 17), ("ratio", 7), ("redelivery µs", 13)],
        ([f"{r.alerts:,}", f"{r.package_us:,.0f}", f"{r.baseline_us:,.0f}", f"{r.ratio:.1f}{TIMES}", f"{r.redelivery_us:,.0f}"] for r in results),
    )  # fmt: skip
    print()
    table(
        [("queries per notification", -24), ("handler", 7), ("task", 8), ("total", 8), ("baseline", 8), ("redelivery", 10)],
        ([f"{r.alerts:,} alerts", r.handler_q, r.task_q, r.handler_q + r.task_q, r.baseline_q, r.redelivery_q] for r in results),
    )  # fmt: skip
    print(
        "(n (+t): n queries, t transaction-control statements that Django logs: BEGIN, "
        "COMMIT, SAVEPOINT, RELEASE; the handler's and the baseline's include the host "
        "transaction's)"
    )
    largest = results[-1]
    print(
        f"\nexactly-once bookkeeping at {largest.alerts:,} alerts: {largest.ratio:.1f}{TIMES} "
        f"the baseline (+{largest.package_us - largest.baseline_us:,.0f} µs per notification); "
        f"a redelivery costs {largest.redelivery_us:,.0f} µs and {largest.redelivery_q.queries} "
        "queries"
    )
    if args.queries:
        largest.handler_q.print("handler (before commit)", width=220)
        largest.task_q.print("task (at commit)", width=220)
        largest.baseline_q.print("baseline", width=220)
        largest.redelivery_q.print("redelivery", width=220)


def run(args: argparse.Namespace) -> int:
    if args.worker:
        from delivery_worker import run as run_worker

        return run_worker(args)  # always on PostgreSQL
    started = time.perf_counter()
    settings = host_settings(
        SLACK_RULES={
            **host_settings()["SLACK_RULES"],
            "BACKEND": "django_slack_rules.backends.LocmemBackend",
            "QUEUE": None,
        },
        # The package logs each delivery at INFO; a production log level is assumed.
        LOGGING={
            "version": 1,
            "disable_existing_loggers": False,
            "loggers": {"django_slack_rules": {"level": "WARNING"}},
        },
    )
    with database(args, settings) as description:
        import django

        from django_slack_rules.tasks import process_slack_for_alert_group
        from tests.celery_app import app  # the host's Celery app, as the eager test fixture uses

        logging.getLogger("django_slack_rules").setLevel(logging.WARNING)
        if process_slack_for_alert_group.app is not app:
            raise RuntimeError("the package's task is not bound to the host's Celery app")
        app.conf.task_always_eager = True  # no broker: apply_async runs the task here
        app.conf.task_eager_propagates = True  # an error in the task fails the benchmark
        print(
            f"django-slack-rules delivery benchmark: Python {platform.python_version()}, "
            f"Django {django.get_version()}, {description}"
        )
        print(
            f"{args.rules} active rules, LocmemBackend, Celery eager; median of {args.rounds} "
            f"passes after {args.warmup} warm-up alerts; seed {args.seed}"
            f"{'; --quick' if args.quick else ''}\n"
        )
        rng = random.Random(args.seed)
        create_rules(args.rules, rng)
        results = [run_size(n, args, rng) for n in args.alerts]
    report(results, args)
    print(f"\n(total {time.perf_counter() - started:.1f} s)")
    return 0


def parser() -> argparse.ArgumentParser:
    parser = options(
        __doc__, pg_db="dsr_bench_delivery", quick="40 alerts, 2 passes", sqlite=True, redis=True
    )
    parser.add_argument("--alerts", help="alerts per size, comma-separated (200,2000; --quick: 40)")
    parser.add_argument("--rules", type=int, default=100, help="active rules (default: 100)")
    parser.add_argument(
        "--rounds", type=int, help="timed passes (5; --quick: 2); --worker: A/B rounds (3; 2)"
    )
    parser.add_argument(
        "--queries", action="store_true", help="print the SQL of one notification of each kind"
    )
    worker = parser.add_argument_group(
        "through a Celery worker, against SentryHub's task (delivery_worker.py)"
    )
    worker.add_argument(
        "--worker",
        action="store_true",
        help="msg/s through a prefork worker on Redis and PostgreSQL",
    )
    worker.add_argument(
        "--messages", type=int, help="messages per variant and round (300; --quick: 20)"
    )
    worker.add_argument(
        "--nginx", action="store_true", help="post through the shipped nginx gateway"
    )
    worker.add_argument(
        "--debug", action="store_true", help="DEBUG = True in the worker, as SentryHub's settings"
    )
    worker.add_argument(
        "--no-pacing",
        action="store_true",
        help='SLACK_RULES["CHANNEL_RATE"] = None in the worker (default: a pace no batch reaches)',
    )
    worker.add_argument(
        "--profile", action="store_true", help="cProfile the probed tasks and print the top"
    )
    worker.add_argument(
        "--conn-max-age",
        type=int,
        default=0,
        metavar="SECONDS",
        help="the worker's CONN_MAX_AGE (0, as SentryHub)",
    )
    return parser  # fmt: skip


def parse_args() -> argparse.Namespace:
    parse = parser()
    args = parse.parse_args()
    if args.worker:  # always on PostgreSQL
        args.postgres = True
        args.pg_db = "dsr_bench_worker" if args.pg_db == "dsr_bench_delivery" else args.pg_db
    worker_only = ("messages", "nginx", "debug", "profile", "no_pacing", "conn_max_age")
    only = [f"--{name.replace('_', '-')}" for name in worker_only if getattr(args, name)]
    if only and not args.worker:
        parse.error(f"{', '.join(only)}: only with --worker")
    if args.worker and args.alerts:
        parse.error("--alerts is for the in-process benchmark; with --worker use --messages")
    if args.rules < 1 or min(args.rounds or 1, args.messages or 1) < 1:
        parse.error("--rules, --rounds and --messages: at least 1")
    args.alerts = numbers(parse, "alerts", args.alerts) or ([40] if args.quick else [200, 2000])
    if not args.worker:
        args.rounds = args.rounds or (2 if args.quick else 5)
    args.warmup, args.query_sample = (10, 10) if args.quick else (50, 50)
    return args


if __name__ == "__main__":
    main(run, parse_args())
