"""Celery entry points: the tasks, and queueing them on SLACK_RULES["QUEUE"].

The work is in :mod:`django_slack_rules.services`. A task sends a delivery by id
(:func:`~django_slack_rules.services.delivery.send_delivery`) and turns what the services
raise into Celery's terms: :class:`~django_slack_rules.services.delivery.RetryLater` and a
transient database error into ``self.retry``, and a delivery that joined its destination's
line (:class:`~django_slack_rules.services.pacing.WaitForSlot`) into queueing the line's
drain. Only ids and JSON-safe values cross the queue.

A task run eagerly (``task_always_eager``) is not paced: it cannot wait for a slot
without blocking its caller.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Literal, TypedDict

from celery import Celery, Task, shared_task
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import QuerySet
from kombu import Connection

from . import action_tasks
from .conf import slack_rules_settings
from .models import SlackDelivery
from .services import claim, delivery, drain, outbox, pacing, recovery, tally
from .typing import Id, JSONValue

logger = logging.getLogger(__name__)

#: Fraction of the broker's visibility timeout that a retry delay may use.
VISIBILITY_SAFETY = 0.9
DEFAULT_VISIBILITY_TIMEOUT = 3600.0


class TaskOptions(TypedDict):
    """How the delivery tasks are declared: ``@shared_task(name=…, **TASK_OPTIONS)``."""

    bind: Literal[True]
    acks_late: bool
    reject_on_worker_lost: bool
    ignore_result: bool
    max_retries: int | None


TASK_OPTIONS: TaskOptions = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    # Attempts are counted on the delivery record (SLACK_RULES["MAX_ATTEMPTS"]), and
    # waiting out a rate-limited channel does not use one.
    "max_retries": None,
}


class SendOptions(TypedDict, total=False):
    """What :func:`enqueue` gives ``apply_async`` besides the task's arguments."""

    queue: str
    countdown: float


#: Database errors that pass: a failover, a restarted pooler, terminated connections.
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)


#: Seconds queueing waits for a broker that does not answer.
PUBLISH_CONNECT_TIMEOUT = 1.5


class _Publisher(threading.local):
    """This thread's connection to the broker for queueing: one that tries once.

    Celery's own connections wait for a broker that is down (retrying for seconds), and
    queueing runs when the host's transaction commits. A delivery is recorded before it is
    queued, so when the broker cannot take it, it stays pending and the recovery task
    queues it later: nothing is gained by waiting here."""

    app: Celery | None = None
    connection: Connection | None = None

    def get(self, app: Celery) -> Connection:
        if self.connection is None or self.app is not app:
            self.app, self.connection = (
                app,
                app.connection_for_write(
                    connect_timeout=PUBLISH_CONNECT_TIMEOUT, transport_options={"max_retries": 0}
                ),
            )
        return self.connection

    def discard(self) -> None:
        if self.connection is not None:
            self.connection.release()
        self.app = self.connection = None


_publisher = _Publisher()


def enqueue(
    task: Task, *args: JSONValue, countdown: float | None = None, **kwargs: JSONValue
) -> None:
    """Send ``task`` to SLACK_RULES["QUEUE"] (Celery's default queue when None), trying the
    broker once (:class:`_Publisher`); raise when it cannot take it. Its arguments cross
    the queue: ids and JSON values only."""
    queue = slack_rules_settings.QUEUE
    options: SendOptions = {"queue": queue} if queue else {}
    if countdown is not None and countdown > 0:
        options["countdown"] = min(countdown, max_delay(task))
    if task.app.conf.task_always_eager:
        task.apply_async(args=args, kwargs=kwargs, **options)
        return
    try:
        # celery-types does not list ``connection``, which apply_async passes to send_task.
        task.apply_async(  # type: ignore[call-arg]
            args=args, kwargs=kwargs, retry=False, connection=_publisher.get(task.app), **options
        )
    except Exception:
        _publisher.discard()  # a new connection next time, once the broker is back
        raise


def max_delay(task: Task) -> float:
    """The longest countdown: below the broker's visibility timeout, so an acks_late
    message is not redelivered while it waits (a longer wait is taken in steps)."""
    options = getattr(task.app.conf, "broker_transport_options", None) or {}
    visibility = float(options.get("visibility_timeout") or DEFAULT_VISIBILITY_TIMEOUT)
    return max(1.0, visibility * VISIBILITY_SAFETY)


@shared_task(name="django_slack_rules.tasks.process_slack_for_alert_group", **TASK_OPTIONS)
def process_slack_for_alert_group(
    self: Task,
    /,
    alert_group_id: Id,
    rule_id: Id,
    delivery_id: int | None = None,
    status: str | None = None,
    occurrence: str | None = None,
    **kwargs: object,
) -> str:
    """Send the notification of ``rule_id`` for ``alert_group_id``: the delivery
    ``delivery_id`` the signal receiver recorded with the alert.

    Called with the two ids alone (hosts and scripts do), it records the notification
    first, from the alert as it is now where ``status`` or ``occurrence`` are not given,
    and sends it once. Returns the delivery's state (or why there is none)."""
    if delivery_id is not None:
        return send(self, delivery_id)
    with retried_by(self):
        recorded = outbox.record_one(alert_group_id, rule_id, status, occurrence)
    if isinstance(recorded, str):
        return recorded  # "no-alert", "no-rule", "no-template"
    # Retried, the task sends the row recorded now.
    retry_kwargs = {**kwargs, "status": status, "occurrence": occurrence, "delivery_id": recorded}
    return send(self, recorded, retry_kwargs=retry_kwargs)


@shared_task(name="django_slack_rules.tasks.send_slack_delivery", **TASK_OPTIONS)
def send_slack_delivery(self: Task, /, delivery_id: int) -> str:
    """Send a recorded delivery by id (a resend, or one the recovery queued again)."""
    return send(self, delivery_id)


def send(task: Task, delivery_id: int, retry_kwargs: dict[str, object] | None = None) -> str:
    """Send ``delivery_id`` in ``task``; a delivery that joined its destination's line
    queues the line's drain, then serves the line if its slot is free now."""
    paced = not task.request.is_eager
    try:
        with retried_by(task, retry_kwargs):
            return delivery.send_delivery(delivery_id, paced=paced)
    except pacing.WaitForSlot as waiting:
        queue_drains([waiting.drain])
        return serve_line(task, waiting.destination)


@shared_task(name="django_slack_rules.tasks.drain_destination", **TASK_OPTIONS)
def drain_destination(self: Task, /, destination: str, token: int) -> str:
    """At a destination's slot: send what waits for it (one message, or one digest), then
    queue the next drain, or end when nothing waits."""
    with retried_by(self):
        outcome = drain.run(destination, token)
    _queue_outcome(outcome)
    return outcome.state


def serve_line(task: Task, destination: str) -> str:
    """Use the slot of ``destination``'s line if it is free now; "waiting"."""
    with retried_by(task):
        outcome = drain.serve(destination)
    _queue_outcome(outcome)
    return "waiting"


def _queue_outcome(outcome: drain.Outcome) -> None:
    for delivery_id, countdown in outcome.retries:
        enqueue(send_slack_delivery, delivery_id, countdown=countdown)
    queue_drains(outcome.drains)


def queue_drains(armed: Iterable[pacing.Drain | None]) -> None:
    """Queue the drains a delivery (or the drain before) armed."""
    for drain_ in armed:
        if drain_ is not None:
            enqueue(drain_destination, drain_.destination, drain_.token, countdown=drain_.countdown)


@contextlib.contextmanager
def retried_by(task: Task, retry_kwargs: dict[str, object] | None = None) -> Iterator[None]:
    """Run the ``with`` block; :class:`~.delivery.RetryLater`, and a database error that
    passes, become ``task.retry`` (with ``retry_kwargs``, else the task's own arguments).
    The delivery row is where it was: nothing is lost."""
    try:
        yield
    except delivery.RetryLater as later:
        countdown = min(later.countdown, max_delay(task))
        raise task.retry(countdown=countdown, kwargs=retry_kwargs) from None
    except TRANSIENT_DATABASE_ERRORS as exc:
        countdown = delivery.backoff_delay(task.request.retries + 1)
        logger.warning(
            "Slack task %s: the database failed (%s: %s); retrying in %.1fs",
            task.name,
            type(exc).__name__,
            exc,
            countdown,
        )
        raise task.retry(countdown=countdown, kwargs=retry_kwargs) from None


@shared_task(name="django_slack_rules.tasks.recover_stranded", ignore_result=True)
def recover_stranded() -> str:
    """Queue again what nothing is working on (run it every minute with celery beat:
    docs/operations.md). Idempotent: a delivery queued twice is still sent once."""
    found = requeue_stranded()
    return found.summary()


def requeue_stranded(*, quiet_for: float | None = None, dry_run: bool = False) -> recovery.Stranded:
    """Find what is stranded (:func:`~.recovery.find_stranded`) and queue it again: each
    delivery's task, a drain for each line without a live one, and the clicks on Slack
    buttons with work left that no worker holds (:func:`~.action_tasks.recover_actions`)."""
    found = recovery.find_stranded(quiet_for=quiet_for, arm=not dry_run)
    if dry_run:
        return found
    for stranded in found.deliveries:
        enqueue(send_slack_delivery, stranded.pk)
    queue_drains(found.drains)
    clicks = action_tasks.recover_actions()
    if found.deliveries or found.drains or clicks:
        logger.warning(
            "Slack rules recovery: %s; %d click(s) queued again", found.summary(), clicks
        )
    return found


def resend_deliveries(queryset: QuerySet[SlackDelivery]) -> int:
    """Put failed or cancelled deliveries back to pending and queue them after commit. The
    metrics count each one's outcome so far, in the same transaction, and its next one."""
    with transaction.atomic():
        tally.note_reopening(queryset.filter(state__in=claim.RESENDABLE_STATES))
        ids = claim.reset_for_resend(queryset)

    def dispatch() -> None:
        for pk in ids:
            enqueue(send_slack_delivery, pk)

    if ids:
        transaction.on_commit(dispatch)
    return len(ids)


def queue_deliveries(alert_id: Id, deliveries: list[SlackDelivery]) -> None:
    """Queue the deliveries the receiver recorded for ``alert_id`` (run at commit). When
    the broker refuses one, the rest are not tried (each try could wait for it): they stay
    pending, and the recovery task queues them."""
    for index, recorded in enumerate(deliveries):
        try:
            enqueue(
                process_slack_for_alert_group, alert_id, recorded.rule_id, delivery_id=recorded.pk
            )
        except Exception as exc:
            logger.error(
                "Could not queue %d Slack notification(s) for alert %s (fingerprint=%s): "
                "%s: %s. Nothing is lost: they stay pending, and the recovery task "
                "(django_slack_rules.tasks.recover_stranded) queues them once the broker "
                "is back.",
                len(deliveries) - index,
                alert_id,
                recorded.fingerprint,
                type(exc).__name__,
                exc,
            )
            return
