"""Small helpers the test modules share: the rule pages' URLs, the host's signal, commands,
rules, and a real worker on a queue of its own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import kombu
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from tests.alerts.models import AlertGroup
from tests.alerts.signals import alert_processed
from tests.factories import RuleFactory
from tests.processes import celery_worker

NS = "django_slack_rules"


def url(name: str, *args: Any) -> str:
    """The URL of a rule page by its name in the package's namespace: ``url("rule-list")``."""
    return reverse(f"{NS}:{name}", args=args)


def fire(alert: AlertGroup, instance: Any = None, status: str = "firing") -> None:
    """Send the host's ``alert_processed`` signal, as SentryHub does for each alert."""
    alert_processed.send(sender=AlertGroup, alert_group=alert, instance=instance, status=status)


def call(*args: str) -> str:
    """Run a management command; return what it wrote to stdout."""
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def fan_out_rules() -> None:
    """Three rules: pager continues to web, which stops the chain before the catch-all.

    An alert ``High…`` of team web goes to #pager and #web; one of team db to #all only.
    """
    RuleFactory(
        name="pager",
        priority=30,
        match_criteria=['alertname=~"High.*"', 'team!="db"'],
        continue_matching=True,
        slack_channel="#pager",
        message_template="page: {{ alertname }}",
    )
    RuleFactory(
        name="web",
        priority=20,
        match_criteria={"team": "web"},
        slack_channel="#web",
        message_template="web: {{ alertname }}",
        resolved_message_template="web: {{ alertname }} resolved",
    )
    RuleFactory(
        name="catch-all",
        priority=0,
        match_criteria=[],
        slack_channel="#all",
        message_template="all: {{ alertname }} on {{ labels.instance }}",
    )


def private_queue(name: str) -> kombu.Queue:
    """The queue (and its direct exchange) Celery declares for ``name``, on any broker."""
    return kombu.Queue(name, kombu.Exchange(name, type="direct"), routing_key=name)


def drop_queue(broker: str, name: str) -> None:
    """Delete the queue ``name`` and what it holds, so no broker keeps it after the tests."""
    with kombu.Connection(broker, connect_timeout=5) as conn:
        bound = private_queue(name)(conn.default_channel)
        bound.declare()  # the Redis transport deletes only the bindings it knows of
        bound.delete()
        bound.exchange.delete()


@contextlib.contextmanager
def worker_on_queue(
    queue: str,
    *,
    endpoint: str,
    django_db_blocker: Any,
    log_dir: Path,
    broker: str | None = None,
    **options: Any,
) -> Iterator[Path]:
    """A real ``celery worker`` on the test database that reads only ``queue`` (emptied
    first, deleted after) and posts to ``endpoint``; yields its log file. ``options`` go to
    :func:`tests.processes.celery_worker` (e.g. ``gateway_mode="bot"``)."""
    broker = broker or settings.CELERY_BROKER_URL
    with kombu.Connection(broker, connect_timeout=5) as conn:
        try:
            conn.ensure_connection(max_retries=2, interval_start=0.5)
        except Exception as exc:
            raise RuntimeError(
                f"The end-to-end tests need the broker at {conn.as_uri()} ({exc}): start it, "
                "or point CELERY_BROKER_URL at a running Redis or RabbitMQ."
            ) from exc
        bound = private_queue(queue)(conn.default_channel)
        bound.declare()
        bound.purge()  # nothing left from an earlier run reaches this worker
    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    log = log_dir / "worker.log"
    try:
        with celery_worker(
            queue=queue, db_name=str(db_name), broker=broker, endpoint=endpoint, log=log, **options
        ):
            yield log
    finally:
        drop_queue(broker, queue)


def notify(
    alert_id: Any,
    rule_id: Any,
    status: str | None = None,
    occurrence: str | None = None,
    *,
    paced: bool = True,
    retrying: bool = False,
) -> str:
    """What a task queued with the two ids does, in-process: record the notification (once)
    and send it. Raises ``RetryLater`` and ``WaitForSlot`` as the task's services do.
    ``retrying`` is accepted for the tests' readability: a retry finds the row recorded."""
    from django_slack_rules.services import delivery, outbox

    recorded = outbox.record_one(alert_id, rule_id, status, occurrence)
    if isinstance(recorded, str):
        return recorded
    return delivery.send_delivery(recorded, paced=paced)
