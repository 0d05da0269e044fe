"""One notification through the package, against the least any implementation must do.

In one process (Celery eager, the locmem backend), per alert: the **package** (the receiver
matches, renders and records in the host's transaction; at commit the task claims, sends and
settles), the **baseline** (the same matcher, templates, service and outbox, nothing
recorded) and a **redelivery** (the task again, for a delivery sent). ``--worker``: msg/s
through a real Celery worker against SentryHub's own task (``delivery_worker.py``).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import delivery_worker
import scenario
from data import STATUS, Notification, create_alerts, create_rules, notify
from scenario import TIMES, BenchmarkError, Queries

PATHS = ("package", "baseline", "redelivery")


@dataclass
class Result:
    """One size: µs per notification, and queries, of each path."""

    alerts: int
    us: dict[str, float]
    queries: dict[str, Queries]  # handler and task (the package's two parts), baseline, redelivery

    @property
    def ratio(self) -> float:
        return self.us["package"] / self.us["baseline"]


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


def make_redeliver(rule_ids: dict[Any, int]) -> Callable[[Notification], None]:
    """The task again, with the arguments the handler queued: as a broker redelivery."""
    from django_slack_rules.tasks import process_slack_for_alert_group as task

    def redeliver(item: Notification) -> None:
        args = (item.alert.pk, rule_ids[item.alert.pk])
        kwargs = {"status": STATUS, "occurrence": str(item.instance.pk)}
        if (state := task.apply(args=args, kwargs=kwargs).get()) != "sent":
            raise BenchmarkError(f"redelivery of alert {item.alert.pk} returned {state!r}")

    return redeliver


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
    paths: dict[str, Callable[[Notification], None]],
    rule_ids: dict[Any, int],
) -> dict[str, Queries]:
    """Untimed: the queries of the handler (until the task starts, at commit), of the task,
    of the baseline and of a redelivery, for each sampled notification."""
    from celery.signals import task_prerun
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    found = {name: Queries() for name in ("handler", "task", "baseline", "redelivery")}
    marks: list[int] = []

    def mark(**kwargs: Any) -> None:  # the task starts: the handler's statements end here
        marks.append(len(connection.queries_log))

    reset_deliveries()
    task_prerun.connect(mark, weak=False)
    try:
        for path, fn in paths.items():
            for item in items:
                marks.clear()
                with CaptureQueriesContext(connection) as ctx:
                    fn(item)
                statements = [q["sql"] for q in ctx.captured_queries]
                if path != "package":
                    found[path].add(statements)
                elif len(marks) != 1:
                    raise BenchmarkError(f"the task ran {len(marks)} times for one alert")
                else:
                    found["handler"].add(statements[: marks[0] - ctx.initial_queries])
                    found["task"].add(statements[marks[0] - ctx.initial_queries :])
            sent_messages(f"query count, {path}", 0 if path == "redelivery" else len(items))
            if path == "package":
                check_deliveries(items, rule_ids)
    finally:
        task_prerun.disconnect(mark)
    return found


def run_size(n: int, args: argparse.Namespace, rng: random.Random) -> Result:
    from django_slack_rules.services.slack_matcher import SlackRuleMatcherService

    scenario.progress(f"{n:>6,} alerts: creating…")
    items = create_alerts(f"bench{n}", n, rng)
    matcher = SlackRuleMatcherService()
    rule_ids = {item.alert.pk: matcher.find_matching_rule(item.alert.labels).pk for item in items}
    paths = {
        "package": notify,
        "baseline": make_baseline(),
        "redelivery": make_redeliver(rule_ids),
    }
    warmup = create_alerts(f"warmup{n}", args.warmup, rng)
    scenario.progress(f"{n:>6,} alerts: warming up…")
    for path in ("package", "baseline"):
        reset_deliveries()
        for item in warmup:
            paths[path](item)
    reset_deliveries()

    samples: dict[str, list[float]] = {path: [] for path in PATHS}
    for round_ in range(1, args.rounds + 1):
        scenario.progress(f"{n:>6,} alerts: round {round_}/{args.rounds}…")
        reset_deliveries()
        sent = {}  # alternating the order, so that neither path always runs on a warmer cache
        for path in ("baseline", "package") if round_ % 2 else ("package", "baseline"):
            samples[path].append(scenario.us_per_call(paths[path], items))
            sent[path] = sent_messages(path, n)
        for item, ours, theirs in zip(items, sent["package"], sent["baseline"]):
            if ours != theirs:
                raise BenchmarkError(
                    f"alert {item.alert.pk}: the package sent {ours!r}, the baseline {theirs!r}"
                )
        check_deliveries(items, rule_ids)
        samples["redelivery"].append(scenario.us_per_call(paths["redelivery"], items))
        sent_messages("redelivery", 0)

    sample = items[: args.query_sample]
    scenario.progress(f"{n:>6,} alerts: counting queries on {len(sample)} alerts…")
    queries = count_queries(sample, paths, rule_ids)
    reset_deliveries()
    return Result(n, {path: scenario.median(samples[path]) for path in PATHS}, queries)


def report(results: Sequence[Result], args: argparse.Namespace) -> None:
    scenario.table(
        [("alerts", 7), ("package µs/notif", 16), ("baseline µs/notif", 17), ("ratio", 7), ("redelivery µs", 13)],
        ([f"{r.alerts:,}", *(f"{r.us[p]:,.0f}" for p in PATHS[:2]), f"{r.ratio:.1f}{TIMES}", f"{r.us['redelivery']:,.0f}"] for r in results),
    )  # fmt: skip
    print()
    scenario.table(
        [("queries per notification", -24), ("handler", 7), ("task", 8), ("total", 8), ("baseline", 8), ("redelivery", 10)],
        ([f"{r.alerts:,} alerts", q["handler"], q["task"], q["handler"] + q["task"], q["baseline"], q["redelivery"]] for r in results for q in [r.queries]),
    )  # fmt: skip
    print(
        "(n (+t): n queries, t transaction-control statements that Django logs: BEGIN, "
        "COMMIT, SAVEPOINT, RELEASE; the handler's and the baseline's include the host "
        "transaction's)"
    )
    last = results[-1]
    print(
        f"\nexactly-once bookkeeping at {last.alerts:,} alerts: {last.ratio:.1f}{TIMES} the "
        f"baseline (+{last.us['package'] - last.us['baseline']:,.0f} µs per notification); a "
        f"redelivery costs {last.us['redelivery']:,.0f} µs and {last.queries['redelivery'].queries} queries"
    )
    titles = {"handler": "handler (before commit)", "task": "task (at commit)"}
    for name, queries in last.queries.items() if args.queries else ():
        queries.print(titles.get(name, name), width=220)


def run(args: argparse.Namespace) -> int:
    if args.worker:
        return delivery_worker.run(args)  # always on PostgreSQL
    started = time.perf_counter()
    settings = scenario.host_settings(
        SLACK_RULES={
            **scenario.host_settings()["SLACK_RULES"],
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
    with scenario.database(args, settings) as description:
        from django_slack_rules.tasks import process_slack_for_alert_group
        from tests.celery_app import app  # the host's Celery app, as the eager test fixture uses

        if process_slack_for_alert_group.app is not app:
            raise RuntimeError("the package's task is not bound to the host's Celery app")
        app.conf.task_always_eager = True  # no broker: apply_async runs the task here
        app.conf.task_eager_propagates = True  # an error in the task fails the benchmark
        scenario.header("delivery benchmark", description)
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


def parse_args() -> argparse.Namespace:
    parser = scenario.options(
        __doc__, pg_db="dsr_bench_delivery", quick="40 alerts, 2 passes", sqlite=True
    )
    parser.add_argument("--alerts", help="alerts per size, comma-separated (200,2000; --quick: 40)")
    parser.add_argument("--rules", type=int, default=100, help="active rules (default: 100)")
    parser.add_argument(
        "--rounds", type=int, help="timed passes (5; --quick: 2); --worker: A/B rounds"
    )
    parser.add_argument("--queries", action="store_true", help="print the SQL of each kind of path")
    delivery_worker.add_options(parser)
    args = parser.parse_args()
    if args.rules < 1 or (args.rounds is not None and args.rounds < 1):
        parser.error("--rules and --rounds: at least 1")
    if delivery_worker.checked_options(parser, args):
        return args
    args.alerts = scenario.numbers(parser, "alerts", args.alerts) or (
        [40] if args.quick else [200, 2000]
    )
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.warmup, args.query_sample = (10, 10) if args.quick else (50, 50)
    return args


if __name__ == "__main__":
    scenario.main(run, parse_args())
