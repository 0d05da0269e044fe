"""Recovery: what nothing is working on, found so that it can be queued again.

A delivery is stranded when no task will ever look at it again:

- **pending, never queued**: recorded while the broker was down, or its message was lost;
  or its retry is long overdue (the retry's message was lost);
- **sending past its lease**: the worker sending it died (a digest too);
- **waiting in a line that has no live drain**: the drain's message was lost.

:func:`find_stranded` finds them; ``tasks.requeue_stranded`` queues each delivery's task
again and a drain for each such line. It runs every minute as the periodic task
``django_slack_rules.tasks.recover_stranded`` (celery beat; docs/operations.md), and
``manage.py slack_rules_requeue`` runs the same function. It is idempotent: a delivery is
claimed before it is sent, so one queued twice is still sent once.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db.models import Q
from django.utils import timezone

from ..conf import slack_rules_settings
from ..models import DeliveryState, DestinationPace, SlackDelivery
from . import pacing

#: The most deliveries one run queues again (the oldest first; the next run takes more).
BATCH = 1000


class StrandedDelivery(NamedTuple):
    pk: int
    state: str
    rule_name: str
    fingerprint: str
    channel: str


@dataclass
class Stranded:
    """What :func:`find_stranded` found: the deliveries to queue again, and the drains armed
    for lines without one (or, for a dry run, the destinations of those lines)."""

    deliveries: list[StrandedDelivery] = field(default_factory=list)
    drains: list[pacing.Drain] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.deliveries)} delivery(ies) queued again, "
            f"{len(self.lines)} line(s) without a drain given one"
        )


def find_stranded(*, quiet_for: float | None = None, arm: bool = True) -> Stranded:
    """The stranded deliveries (at most :data:`BATCH`) and lines. ``quiet_for``: how long a
    pending delivery must have been untouched, or its retry overdue (default:
    ``SLACK_RULES["RECOVERY_AFTER"]``). ``arm``: make this caller the drain of each line
    without a live one (the caller queues ``drains``)."""
    now = timezone.now()
    if quiet_for is None:
        quiet_for = slack_rules_settings.RECOVERY_AFTER
    quiet_since = now - datetime.timedelta(seconds=quiet_for)
    lease_start = now - datetime.timedelta(seconds=pacing.lease_seconds())
    never_queued = Q(retry_at__isnull=True, updated_at__lt=quiet_since)
    retry_overdue = Q(retry_at__lt=quiet_since)
    stranded = SlackDelivery.objects.filter(
        Q(state=DeliveryState.PENDING, waiting_since__isnull=True) & (never_queued | retry_overdue)
        | Q(state=DeliveryState.SENDING, claimed_at__lt=lease_start)
    ).order_by("created_at", "pk")
    fields = ("pk", "state", "rule_name", "fingerprint", "channel")
    found = Stranded([StrandedDelivery(*row) for row in stranded.values_list(*fields)[:BATCH]])
    channels = pacing.waiting().order_by().values_list("channel", flat=True).distinct()
    for destination in sorted({pacing.destination_of(channel) for channel in channels}):
        if not _has_live_drain(destination, now.timestamp()):
            found.lines.append(destination)
            if arm:
                pace = pacing.current()
                next_at = pacing.next_slot(destination, pace) if pace else now.timestamp()
                drain = pacing.arm(destination, next_at)
                if drain is not None:
                    found.drains.append(drain)
    return found


def _has_live_drain(destination: str, now: float) -> bool:
    """True when ``destination``'s drain is armed and not overdue by a lease."""
    state = DestinationPace.read(destination)
    if state is None or state[1] is None:
        return False
    return state[1] >= now - pacing.lease_seconds()
