"""What operators see of a storm: per destination, its line, next slot, pause and digests.

``manage.py slack_rules_status`` prints it, and the delivery log shows it in its header.
Three small queries, whatever the number of deliveries: the lines (waiting deliveries) and
the digests of the last hour by destination, Slack's pauses, and the paces of the busy
destinations (none when nothing is busy).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from ..models import (
    STATUS_DIGEST,
    DeliveryState,
    DestinationPace,
    DestinationPause,
    SlackDelivery,
)
from . import pacing

#: How far back "digests" and "the last 429" look.
RECENT = datetime.timedelta(hours=1)


@dataclass
class DestinationStatus:
    """One destination (a channel, or a webhook) as the workers see it now."""

    destination: str
    backlog: int = 0  # deliveries waiting for a slot
    next_slot: datetime.datetime | None = None  # None: one is free now (or no pacing)
    paused_until: datetime.datetime | None = None  # Slack's Retry-After, while it lasts
    last_429: datetime.datetime | None = None
    digests: int = 0  # digests sent (or tried) in the last hour


def destinations(*, everything: bool = False) -> list[DestinationStatus]:
    """Every busy destination: a line, Slack's pause or a 429 in the last hour, or digests
    in the last hour (``everything``: also the idle ones that were ever paced); the
    longest line first."""
    now = timezone.now()
    rows: dict[str, DestinationStatus] = {}

    def row(destination: str) -> DestinationStatus:
        return rows.setdefault(destination, DestinationStatus(destination))

    waiting = Q(state=DeliveryState.PENDING, waiting_since__isnull=False)
    digest = Q(alert_status=STATUS_DIGEST, created_at__gte=now - RECENT)
    counts = (
        SlackDelivery.objects.filter(waiting | digest)
        .order_by()
        .values_list("channel")
        .annotate(lines=Count("pk", filter=waiting), digests=Count("pk", filter=digest))
    )
    for destination, line, digests in counts:
        found = row(destination)
        found.backlog, found.digests = line, digests
    for pause in DestinationPause.objects.filter(
        Q(paused_until__gt=now) | Q(updated_at__gte=now - RECENT)
    ):
        found = row(pause.destination)
        found.paused_until = pause.paused_until if pause.paused_until > now else None
        found.last_429 = pause.updated_at
    pace = pacing.current()
    if pace is not None and (rows or everything):
        moment = time.time()
        paces = DestinationPace.objects.all()
        if not everything:
            paces = paces.filter(destination__in=list(rows))
        for destination, tat in paces.values_list("destination", "tat"):
            if tat - pace.tolerance > moment:
                row(destination).next_slot = _when(tat - pace.tolerance)
    return sorted(rows.values(), key=lambda r: (-r.backlog, -r.digests, r.destination))


def _when(epoch: float) -> datetime.datetime:
    """``epoch`` as the site's datetimes are: aware (UTC) with USE_TZ, else naive local."""
    if settings.USE_TZ:
        return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return datetime.datetime.fromtimestamp(epoch)
