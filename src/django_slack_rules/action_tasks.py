"""The Celery side of actions from Slack: the task that does a click, and the recovery of
clicks no task took (the view queues a click with ``tasks.enqueue`` once Slack has its
answer).

Imported by ``AppConfig.ready()``, so every worker registers the task. It goes to
``SLACK_RULES["QUEUE"]`` (Celery's default queue when None), like the package's other
tasks; only the action's id crosses the queue.
"""

from __future__ import annotations

import datetime
import logging
from typing import TypedDict

from celery import Task, shared_task
from django.db.models import Q
from django.utils import timezone

from .conf import slack_rules_settings
from .models import ActionState, NoticeState, SlackAction
from .services.actions import perform

logger = logging.getLogger(__name__)

#: Seconds a click may wait for its task before :func:`recover_actions` queues it again.
RECOVERY_GRACE = 30.0
#: At most this many actions are queued again by one run of :func:`recover_actions`.
RECOVERY_BATCH = 500


@shared_task(
    name="django_slack_rules.action_tasks.perform_slack_action",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,  # attempts are counted on the action (SLACK_RULES["MAX_ATTEMPTS"])
)
def perform_slack_action(self: Task, /, action_id: int) -> str:
    """Do the click ``action_id`` once and tell Slack how it ended; its state."""
    try:
        return perform.run(action_id)
    except perform.TryLater as later:
        raise self.retry(countdown=later.countdown) from None


class _Options(TypedDict, total=False):
    """The options of a click's task: its queue, when ``SLACK_RULES["QUEUE"]`` names one."""

    queue: str


def _options() -> _Options:
    queue = slack_rules_settings.QUEUE
    return {"queue": queue} if queue else {}


def recover_actions(*, now: datetime.datetime | None = None, grace: float = RECOVERY_GRACE) -> int:
    """Queue again every click with work left that no worker holds: pending for over
    ``grace`` seconds (the broker refused it, or lost it), held by a worker past its lease
    (the worker died), or due for a retry. Idempotent: a click queued twice is done once.
    Returns how many were queued.

    The package's periodic recovery (``django_slack_rules.tasks.recover_stranded``) calls it.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=grace)
    work = Q(state__in=[ActionState.PENDING, ActionState.TAKING]) | Q(
        notice_state=NoticeState.PENDING
    )
    stranded = Q(held_until__isnull=True, created_at__lt=cutoff) | Q(held_until__lt=cutoff)
    ids = list(
        SlackAction.objects.filter(work, stranded)
        .order_by("pk")
        .values_list("pk", flat=True)[:RECOVERY_BATCH]
    )
    for pk in ids:
        perform_slack_action.apply_async(args=(pk,), **_options())
    if ids:
        logger.info("Queued %d stranded action(s) from Slack again", len(ids))
    return len(ids)
