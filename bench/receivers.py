"""The host's signal through both receivers: the package's, and SentryHub's
(``bench/sentryhub_baseline.py``). Each matches among the rules in the host's transaction and
queues its task at commit; the messages queued are recorded (Celery's
``before_task_publish``), for the worker benchmarks to replay.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from data import STATUS, Notification
from scenario import BenchmarkError, Queries

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


@contextlib.contextmanager
def recording_publishes() -> Iterator[list[Message]]:
    """The task messages published in the block."""
    from celery.signals import before_task_publish

    published: list[Message] = []

    def record(sender: Any = None, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        name = (headers or {}).get("task", sender)
        published.append(Message(name, tuple(body[0]), dict(body[1]), None))

    before_task_publish.connect(record, weak=False)
    try:
        yield published
    finally:
        before_task_publish.disconnect(record)


def signal_path(
    alerts: Sequence[Notification],
    counted: Sequence[Notification] = (),
    skip: int = 0,
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

    def send(signal: Any, item: Notification) -> tuple[float, float, float, float]:
        started = clock()
        with transaction.atomic():
            before = clock()
            signal.send(
                sender=AlertGroup, alert_group=item.alert, instance=item.instance, status=STATUS
            )
            sent = clock()
        return started, before, sent, clock()

    with recording_publishes() as published:
        for i, item in enumerate(alerts):
            for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                published.clear()
                if item.alert.pk in counted_ids:
                    with CaptureQueriesContext(connection) as capture:
                        send(signals[variant], item)
                    times[variant].queries.add([q["sql"] for q in capture.captured_queries])
                else:
                    started, before, sent, done = send(signals[variant], item)
                    if i >= skip:
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
                _, before, sent, _ = send(alert_processed, fan_out[i])
                if i >= skip:
                    times[PACKAGE_FAN_OUT].send_us.append((sent - before) * 1e6)
                if len(published) != 3:
                    raise BenchmarkError(
                        f"{PACKAGE_FAN_OUT}: its receiver queued {len(published)} messages "
                        "(expected 3)"
                    )
    return times, messages
