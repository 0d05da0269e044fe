"""Celery entry points: the tasks, and queueing them on SLACK_RULES["QUEUE"].

The work is in :mod:`django_slack_rules.services`; a task only turns its
:class:`~django_slack_rules.services.delivery.RetryLater` into ``self.retry``, and queues
the destination's drain a delivery that waits for its slot armed
(:class:`~django_slack_rules.services.pacing.WaitForSlot`). Only ids and JSON-safe values
cross the queue.

A task run eagerly (``task_always_eager``) is not paced: it cannot wait for a slot
without blocking its caller.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.db import transaction
from django.db.models import QuerySet

from .conf import slack_rules_settings
from .models import SlackDelivery
from .services import delivery, drain, pacing, recording

logger = logging.getLogger(__name__)

#: Fraction of the broker's visibility timeout that a retry delay may use.
VISIBILITY_SAFETY = 0.9
DEFAULT_VISIBILITY_TIMEOUT = 3600.0

TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    # Attempts are counted on the delivery record (SLACK_RULES["MAX_ATTEMPTS"]), and
    # waiting out a rate-limited channel does not use one.
    "max_retries": None,
}


def enqueue(task: Task, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    """Send ``task`` to SLACK_RULES["QUEUE"] (Celery's default queue when None)."""
    queue = slack_rules_settings.QUEUE
    options: dict[str, Any] = {"queue": queue} if queue else {}
    if countdown is not None and countdown > 0:
        options["countdown"] = min(countdown, max_delay(task))
    task.apply_async(args=args, kwargs=kwargs, **options)


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
    alert_group_id: Any,
    rule_id: Any,
    status: str | None = None,
    occurrence: str | None = None,
    version: str | None = None,
    **kwargs: Any,
) -> str:
    """Render ``rule_id``'s message for ``alert_group_id`` and send it once.

    ``status`` ("firing"/"resolved") and ``occurrence`` (the adapter's occurrence
    key) are fixed by the signal handler when the alert is processed; when
    omitted they are read from the alert as it is now. ``version``: the rule set's
    version the rule matched at (the handler's). Returns the delivery state.
    """
    try:
        return recording.notify(
            alert_group_id,
            rule_id,
            status,
            occurrence,
            retrying=self.request.retries > 0,
            paced=not self.request.is_eager,
            version=version,
        )
    except delivery.RetryLater as later:
        raise self.retry(countdown=min(later.countdown, max_delay(self))) from None
    except pacing.WaitForSlot as waiting:
        return queue_drain(waiting.drain)


@shared_task(name="django_slack_rules.tasks.send_slack_delivery", **TASK_OPTIONS)
def send_slack_delivery(self: Task, /, delivery_id: int) -> str:
    """(Re)send a recorded delivery by id, e.g. after "resend" in the admin."""
    recorded = SlackDelivery.objects.filter(pk=delivery_id).first()
    if recorded is None:
        logger.warning("Slack delivery %s no longer exists; nothing sent", delivery_id)
        return "no-delivery"
    try:
        state = delivery.deliver(recorded, paced=not self.request.is_eager)
        recording.with_companion(recorded, paced=not self.request.is_eager)
        return state
    except delivery.RetryLater as later:
        raise self.retry(countdown=min(later.countdown, max_delay(self))) from None
    except pacing.WaitForSlot as waiting:
        return queue_drain(waiting.drain)


@shared_task(name="django_slack_rules.tasks.drain_destination", **TASK_OPTIONS)
def drain_destination(self: Task, /, destination: str, token: int) -> str:
    """At a destination's slot: send what waits for it (one message, or one digest), then
    queue the next drain, or end when nothing waits."""
    outcome = drain.run(destination, token)
    for delivery_id, countdown in outcome.retries:
        enqueue(send_slack_delivery, delivery_id, countdown=countdown)
    queue_drain(outcome.next)
    return outcome.state


def queue_drain(armed: pacing.Drain | None) -> str:
    """Queue the drain a delivery (or the drain before) armed; "waiting"."""
    if armed is not None:
        enqueue(drain_destination, armed.destination, armed.token, countdown=armed.countdown)
    return "waiting"


def resend_deliveries(queryset: QuerySet[SlackDelivery]) -> int:
    """Put failed or cancelled deliveries back to pending and queue them after commit."""
    ids = delivery.reset_for_resend(queryset)

    def dispatch() -> None:
        for pk in ids:
            enqueue(send_slack_delivery, pk)

    if ids:
        transaction.on_commit(dispatch)
    return len(ids)
