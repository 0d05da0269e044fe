"""Benchmark one notification through the package against a "render and send" baseline.

Run from the repository root with the dev virtualenv::

    .venv/bin/python bench/delivery.py              # SQLite; 200 and 2,000 alerts
    .venv/bin/python bench/delivery.py --quick      # smaller samples: a few seconds
    .venv/bin/python bench/delivery.py --postgres   # PostgreSQL on 127.0.0.1:5432
    .venv/bin/python bench/delivery.py --queries    # also print the SQL of one notification
    .venv/bin/python bench/delivery.py --worker     # msg/s through a real Celery worker
                                                    # against SentryHub's own task

``--worker`` is described in ``bench/worker_mode.py``; the rest of this docstring is about
the in-process benchmark.

Django is set up with the test suite's settings (``tests/settings.py``: the host's
``alerts`` app and its ``alert_processed`` signal), the ``LocmemBackend`` (no network)
and Celery in eager mode (no broker: ``apply_async`` runs the task in this process).
Rules and alerts are created beforehand; what is timed, per alert:

* the package: inside the host's ``transaction.atomic()``, ``alert_processed.send(…)``
  → the handler matches the alert and registers ``on_commit`` → at commit the task runs:
  it reloads the rule and the alert, renders the message, records the ``SlackDelivery``
  row, claims it, sends it to the locmem outbox and marks it sent;
* the baseline, the minimum any implementation must do: in the same kind of host
  transaction, match with the same matcher; then build the same context, render the same
  template on the same Django template engine and send it through the same
  ``SlackService`` to the same outbox. No record, no claim, no queue;
* a redelivery: the same task run again for a delivery already sent (what a broker
  redelivering the message costs): it finds the record sent and stops.

Each pass is timed over every alert; the result is the median over several passes,
after a warm-up. After every pass the outbox must hold exactly one message per alert,
the package's messages must equal the baseline's, and every delivery must be recorded
as sent after one attempt (exit 2 otherwise). SQL queries per notification are counted
in a separate, untimed pass (``CaptureQueriesContext``), for the handler and the task.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import django
from databases import postgres_database, sqlite_database
from django.conf import settings
from scenario import (
    STATUS,
    TIMES,
    BenchmarkError,
    Notification,
    Queries,
    create_alerts,
    create_rules,
    is_transaction_control,
)

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test suite's settings and host app (tests/)


@dataclass(frozen=True)
class Profile:
    """How much to sample (the default run, or ``--quick``)."""

    sizes: tuple[int, ...]
    rounds: int
    warmup: int
    query_sample: int


DEFAULT_PROFILE = Profile(sizes=(200, 2000), rounds=5, warmup=50, query_sample=50)
QUICK_PROFILE = Profile(sizes=(40,), rounds=2, warmup=10, query_sample=10)


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


# -- Django ----------------------------------------------------------------------------


def setup_django(database: dict[str, Any]) -> None:
    """The test suite's settings, with ``database``, the locmem backend and quiet logs."""
    from django.core.management import call_command

    from tests import settings as test_settings

    values = {name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()}
    values.update(
        DEBUG=False,
        DATABASES={"default": database},
        SLACK_RULES={
            **test_settings.SLACK_RULES,
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
    settings.configure(**values)
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    logging.getLogger("django_slack_rules").setLevel(logging.WARNING)

    from django_slack_rules.tasks import process_slack_for_alert_group
    from tests.celery_app import app  # the host's Celery app, as the eager test fixture uses

    if process_slack_for_alert_group.app is not app:
        raise RuntimeError("the package's task is not bound to the host's Celery app")
    app.conf.task_always_eager = True  # no broker: apply_async runs the task here
    app.conf.task_eager_propagates = True  # an error in the task fails the benchmark


# -- the two paths ---------------------------------------------------------------------


def package_notify(item: Notification) -> None:
    """The host processes an alert in a transaction and sends its signal; the package
    matches it there and, at commit, runs the task (eagerly: no broker)."""
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

    adapter = get_adapter()
    matcher = SlackRuleMatcherService()

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


# -- measurements ----------------------------------------------------------------------


def outbox() -> list[Any]:
    from django_slack_rules.backends import locmem

    return locmem.outbox


def reset_deliveries() -> None:
    from django_slack_rules.models import SlackDelivery

    SlackDelivery.objects.all().delete()
    outbox().clear()


def timed_pass(fn: Callable[[Notification], Any], items: Sequence[Notification]) -> float:
    """Mean microseconds per call over one pass."""
    gc.collect()
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items) * 1e6


def sent_messages(what: str, expected: int) -> list[tuple[str, str]]:
    messages = [(m.channel, m.text) for m in outbox()]
    if len(messages) != expected:
        raise BenchmarkError(f"{what}: {len(messages)} messages in the outbox, expected {expected}")
    outbox().clear()
    return messages


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


@contextmanager
def capture() -> Iterator[list[str]]:
    """The SQL run inside the block (Django's CaptureQueriesContext)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    statements: list[str] = []
    with CaptureQueriesContext(connection) as ctx:
        yield statements
    statements.extend(q["sql"] for q in ctx.captured_queries)


def count_queries(
    items: Sequence[Notification],
    baseline: Callable[[Notification], None],
    rule_ids: dict[Any, int],
) -> tuple[Queries, Queries, Queries, Queries]:
    """Untimed: the queries of the handler (until commit), of the task (at commit), of the
    baseline and of a redelivery, for each sampled notification."""
    from celery.signals import task_prerun
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from tests.alerts.models import AlertGroup
    from tests.alerts.signals import alert_processed

    handler_q, task_q, baseline_q, redelivery_q = Queries(), Queries(), Queries(), Queries()
    reset_deliveries()
    marks: list[int] = []
    for item in items:
        with CaptureQueriesContext(connection) as ctx:

            def mark(ctx: CaptureQueriesContext = ctx, **kwargs: Any) -> None:
                marks.append(len(ctx.captured_queries))

            task_prerun.connect(mark, weak=False)
            try:
                with transaction.atomic():
                    alert_processed.send(
                        sender=AlertGroup,
                        alert_group=item.alert,
                        instance=item.instance,
                        status=STATUS,
                    )
            finally:
                task_prerun.disconnect(mark)
        if len(marks) != 1:
            raise BenchmarkError(f"the task ran {len(marks)} times for one alert")
        statements = [q["sql"] for q in ctx.captured_queries]
        handler_q.add(statements[: marks[0]])
        task_q.add(statements[marks.pop() :])
    sent_messages("query count, package", len(items))
    check_deliveries(items, rule_ids)
    for item in items:
        with capture() as statements:
            baseline(item)
        baseline_q.add(statements)
    sent_messages("query count, baseline", len(items))
    for item in items:
        with capture() as statements:
            redeliver(item, rule_ids[item.alert.pk])
        redelivery_q.add(statements)
    sent_messages("query count, redelivery", 0)
    return handler_q, task_q, baseline_q, redelivery_q


def run_size(n: int, profile: Profile, rng: random.Random) -> SizeResult:
    from django_slack_rules.services.slack_matcher import SlackRuleMatcherService

    progress(f"{n:>6,} alerts: creating…")
    items = create_alerts(f"bench{n}", n, rng)
    matcher = SlackRuleMatcherService()
    rule_ids = {item.alert.pk: matcher.find_matching_rule(item.alert.labels).pk for item in items}
    baseline = make_baseline()
    warmup = create_alerts(f"warmup{n}", profile.warmup, rng)

    progress(f"{n:>6,} alerts: warming up…")
    for fn in (package_notify, baseline):
        reset_deliveries()
        for item in warmup:
            fn(item)
    reset_deliveries()

    package_samples, baseline_samples, redelivery_samples = [], [], []
    for round_ in range(1, profile.rounds + 1):
        progress(f"{n:>6,} alerts: round {round_}/{profile.rounds}…")
        reset_deliveries()
        # Alternate the order, so that neither path always runs on a warmer cache.
        order = ("baseline", "package") if round_ % 2 else ("package", "baseline")
        sent: dict[str, list[tuple[str, str]]] = {}
        for name in order:
            fn = package_notify if name == "package" else baseline
            samples = package_samples if name == "package" else baseline_samples
            samples.append(timed_pass(fn, items))
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
        redelivery_samples.append(
            timed_pass(lambda item: redeliver(item, rule_ids[item.alert.pk]), items)
        )
        sent_messages("redelivery", 0)

    progress(f"{n:>6,} alerts: counting queries on {min(n, profile.query_sample)} alerts…")
    queries = count_queries(items[: profile.query_sample], baseline, rule_ids)
    reset_deliveries()
    return SizeResult(
        n,
        statistics.median(package_samples),
        statistics.median(baseline_samples),
        statistics.median(redelivery_samples),
        *queries,
    )


# -- report ----------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def print_table(results: Sequence[SizeResult]) -> None:
    header = (
        f"{'alerts':>7}  {'package µs/notif':>16}  {'baseline µs/notif':>17}  "
        f"{'ratio':>7}  {'redelivery µs':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.alerts:>7,}  {r.package_us:>16,.0f}  {r.baseline_us:>17,.0f}  "
            f"{r.ratio:>6.1f}{TIMES}  {r.redelivery_us:>13,.0f}"
        )
    print()
    header = (
        f"{'queries per notification':<24}  {'handler':>7}  {'task':>8}  {'total':>8}  "
        f"{'baseline':>8}  {'redelivery':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{f'{r.alerts:,} alerts':<24}  {r.handler_q!s:>7}  {r.task_q!s:>8}  "
            f"{r.handler_q + r.task_q!s:>8}  {r.baseline_q!s:>8}  {r.redelivery_q!s:>10}"
        )
    print(
        "(n (+t): n queries, t transaction-control statements that Django logs: BEGIN, "
        "COMMIT, SAVEPOINT, RELEASE; the handler's and the baseline's include the host "
        "transaction's)"
    )


def print_queries(result: SizeResult) -> None:
    for title, queries in (
        ("handler (before commit)", result.handler_q),
        ("task (at commit)", result.task_q),
        ("baseline", result.baseline_q),
        ("redelivery", result.redelivery_q),
    ):
        control = sum(1 for statement in queries.example if is_transaction_control(statement))
        print(
            f"\n{title}: {len(queries.example) - control} queries (+{control} transaction control)"
        )
        for i, statement in enumerate(queries.example, 1):
            text = " ".join(statement.split())
            print(f"  {i:>2}. {text[:220]}{'…' if len(text) > 220 else ''}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--alerts",
        help="comma-separated numbers of alerts per size (default: 200,2000; --quick: 40)",
    )
    parser.add_argument("--rules", type=int, default=100, help="active rules (default: 100)")
    parser.add_argument(
        "--rounds",
        type=int,
        help="timed passes per size (default: 5; --quick: 2); with --worker, A/B rounds "
        "(default: 3; --quick: 2)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller samples: a few seconds")
    parser.add_argument(
        "--queries", action="store_true", help="print the SQL of one notification of each kind"
    )
    parser.add_argument(
        "--seed", type=int, default=20240611, help="random seed (default: %(default)s)"
    )
    parser.add_argument("--postgres", action="store_true", help="use PostgreSQL instead of SQLite")
    parser.add_argument("--pg-host", default=os.environ.get("PGHOST", "127.0.0.1"))
    parser.add_argument("--pg-port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    parser.add_argument("--pg-user", default=os.environ.get("PGUSER", "postgres"))
    parser.add_argument(
        "--pg-db",
        help="database to create and drop (default: dsr_bench_delivery; with --worker: "
        "dsr_bench_worker)",
    )
    worker = parser.add_argument_group(
        "through a Celery worker, against SentryHub's own task (bench/worker_mode.py)"
    )
    worker.add_argument(
        "--worker",
        action="store_true",
        help="measure msg/s through a real prefork worker on Redis and PostgreSQL",
    )
    worker.add_argument(
        "--messages", type=int, help="messages per variant and round (default: 300; --quick: 20)"
    )
    worker.add_argument(
        "--nginx", action="store_true", help="post through the shipped nginx gateway"
    )
    worker.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/14",
        help="broker and result store (default: %(default)s); the run uses queues of its own "
        "and deletes its keys",
    )
    worker.add_argument(
        "--debug", action="store_true", help="DEBUG = True in the worker, as SentryHub's settings"
    )
    worker.add_argument(
        "--no-pacing",
        action="store_true",
        help='SLACK_RULES["CHANNEL_RATE"] = None in the worker: no slot to take (by default '
        "pacing is on at a rate no batch reaches, so each delivery pays for its slot but "
        "never waits)",
    )
    worker.add_argument(
        "--profile", action="store_true", help="cProfile the probed tasks and print the top"
    )
    worker.add_argument(
        "--conn-max-age",
        type=int,
        default=0,
        metavar="SECONDS",
        help="CONN_MAX_AGE of the worker, for both variants (default 0, as SentryHub)",
    )
    args = parser.parse_args(argv)
    if args.pg_db is None:
        args.pg_db = "dsr_bench_worker" if args.worker else "dsr_bench_delivery"
    if args.messages is not None and args.messages < 1:
        parser.error("--messages: at least 1")
    if not args.worker:
        only = [
            f"--{name.replace('_', '-')}"
            for name in ("messages", "nginx", "debug", "profile", "no_pacing", "conn_max_age")
            if getattr(args, name)
        ]
        if only:
            parser.error(f"{', '.join(only)}: only with --worker")
    if args.alerts is not None:
        try:
            args.alerts = sorted({int(s.replace("_", "")) for s in args.alerts.split(",") if s})
        except ValueError:
            parser.error("--alerts: comma-separated integers, e.g. 200,2000")
        if not args.alerts or min(args.alerts) < 1:
            parser.error("--alerts: give positive numbers")
    if args.rules < 1:
        parser.error("--rules: at least 1 (the catch-all)")
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds: at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        if args.alerts is not None:
            print("--alerts is for the in-process benchmark; with --worker use --messages")
            return 1
        from worker_mode import run

        return run(args)  # always on PostgreSQL (--postgres is implied)
    profile = QUICK_PROFILE if args.quick else DEFAULT_PROFILE
    sizes = args.alerts or profile.sizes
    rounds = args.rounds or profile.rounds
    profile = Profile(
        sizes=tuple(sizes), rounds=rounds, warmup=profile.warmup, query_sample=profile.query_sample
    )
    database = (
        postgres_database(setup_django, args.pg_host, args.pg_port, args.pg_user, args.pg_db)
        if args.postgres
        else sqlite_database(setup_django)
    )
    started = time.perf_counter()
    rng = random.Random(args.seed)
    results: list[SizeResult] = []
    with database as description:
        print(
            f"django-slack-rules delivery benchmark: Python {platform.python_version()}, "
            f"Django {django.get_version()}, {description}"
        )
        print(
            f"{args.rules} active rules, LocmemBackend, Celery eager; median of {rounds} "
            f"passes after {profile.warmup} warm-up alerts; seed {args.seed}"
            f"{'; --quick' if args.quick else ''}\n"
        )
        create_rules(args.rules, rng)
        try:
            for n in sizes:
                results.append(run_size(n, profile, rng))
        except BenchmarkError as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return 2
    print_table(results)
    largest = results[-1]
    extra = largest.package_us - largest.baseline_us
    print(
        f"\nexactly-once bookkeeping at {largest.alerts:,} alerts: {largest.ratio:.1f}{TIMES} "
        f"the baseline (+{extra:,.0f} µs per notification); a redelivery costs "
        f"{largest.redelivery_us:,.0f} µs and {largest.redelivery_q.queries} queries"
    )
    if args.queries:
        print_queries(largest)
    print(f"\n(total {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
