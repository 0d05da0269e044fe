"""Pacing: each destination's slots, shared by every worker through the database.

A destination (a channel, or a webhook) takes ``SLACK_RULES["CHANNEL_RATE"]`` messages per
second, with bursts of ``CHANNEL_BURST``. A delivery takes a slot before it is sent
(:func:`take`: one UPDATE when there is one). One without a slot waits in line: it is
recorded as waiting (``waiting_since``) without using an attempt, and its task ends. One
drain task per destination, queued with a countdown to the next slot, sends the line a
slot at a time (:mod:`.drain`), a digest of it when it is long.

No waiting delivery is stranded. A delivery is marked waiting *before* it tries to become
the destination's drain (:func:`wait_in_line`); a drain lets go *before* it looks at the
line a last time. So the drain sees the delivery, or the delivery finds no drain and arms
one. A drain that was armed but never ran (its message lost) is replaced by the next
delivery that waits, once it is overdue by the drain lease.

Nothing here knows Celery: a delivery that waits raises :class:`WaitForSlot`, carrying the
drain to queue when this caller armed it (``tasks.py`` queues it).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..conf import slack_rules_settings
from ..models import DeliveryState, DestinationPace, SlackDelivery

logger = logging.getLogger(__name__)

#: Seconds added to the send timeouts: how long a drain may run, and how overdue an armed
#: drain must be before another one replaces it.
DRAIN_MARGIN = 30.0


@dataclass(frozen=True)
class Pace:
    """A destination's rate (messages per second) and burst."""

    rate: float
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    @property
    def tolerance(self) -> float:
        """How far ahead of now the bucket may run: (burst - 1) intervals."""
        return max(0, self.burst - 1) * self.interval


def current() -> Pace | None:
    """The configured pace; None when ``SLACK_RULES["CHANNEL_RATE"]`` is None (no pacing)."""
    rate = slack_rules_settings.CHANNEL_RATE
    if rate is None:
        return None
    return Pace(rate, max(1, slack_rules_settings.CHANNEL_BURST))


def drain_lease() -> float:
    """Seconds a drain holds its destination while it runs (both timeouts and a margin)."""
    return slack_rules_settings.CONNECT_TIMEOUT + slack_rules_settings.READ_TIMEOUT + DRAIN_MARGIN


@dataclass(frozen=True)
class Slot:
    """The answer to :func:`take`: granted now, or when the next slot opens."""

    granted: bool
    next_at: float = 0.0  # seconds since the epoch, when not granted


@dataclass(frozen=True)
class Drain:
    """A drain task to queue: ``drain_destination(destination, token)`` in ``countdown`` s."""

    destination: str
    token: int
    countdown: float


class WaitForSlot(Exception):
    """The delivery waits in its destination's line, recorded as waiting (no attempt used).

    ``drain``: the destination's drain, which this caller armed and must queue; None when a
    drain is due already.
    """

    def __init__(self, destination: str, next_at: float, drain: Drain | None) -> None:
        super().__init__(f"waiting for the next slot of {destination}")
        self.destination = destination
        self.next_at = next_at
        self.drain = drain


def take(destination: str, pace: Pace, now: float | None = None) -> Slot:
    """Take ``destination``'s slot now (one UPDATE when there is one).

    There is none while deliveries wait for the destination (its drain is due): they go
    first. A destination never paced before gets its row, and the slot.
    """
    now = time.time() if now is None else now
    for _ in range(3):
        if DestinationPace.take(
            destination, interval=pace.interval, tolerance=pace.tolerance, now=now
        ):
            return Slot(True)
        state = DestinationPace.read(destination)
        if state is not None and state[1] is None and state[0] <= now + pace.tolerance:
            continue  # another process created the row after the UPDATE: a slot is free
        if state is not None:
            # The bucket's next slot; a drain due (or running) is not waited for: it holds
            # the destination, so this caller cannot arm another one, and if it has let go
            # meanwhile, the drain this caller arms is due at that slot.
            return Slot(False, max(now, state[0] - pace.tolerance))
        if DestinationPace.start(destination, now + pace.interval):
            return Slot(True)
    return Slot(False, now + pace.interval)  # created and emptied by others meanwhile


def hold(destination: str, seconds: float, pace: Pace) -> None:
    """No slot for ``destination`` during the next ``seconds`` (Slack answered 429); after
    it, one message per interval (no burst)."""
    DestinationPace.hold(destination, time.time() + seconds + pace.tolerance)


def next_slot(destination: str, pace: Pace, now: float | None = None) -> float:
    """When ``destination``'s next slot opens (seconds since the epoch; ``now`` if open)."""
    now = time.time() if now is None else now
    state = DestinationPace.read(destination)
    return now if state is None else max(now, state[0] - pace.tolerance)


def new_token() -> int:
    return random.getrandbits(62)


def arm(destination: str, next_at: float, now: float | None = None) -> Drain | None:
    """Become ``destination``'s drain, due at ``next_at``, unless one is due already (and
    not overdue by :func:`drain_lease`). The :class:`Drain` the caller must queue, or None."""
    now = time.time() if now is None else now
    due = max(now, next_at)
    token = new_token()
    if DestinationPace.arm(destination, due=due, token=token, stale_before=now - drain_lease()):
        return Drain(destination, token, due - now)
    return None


def wait_in_line(delivery: SlackDelivery, next_at: float, *, marked: bool = False) -> WaitForSlot:
    """Record ``delivery`` as waiting (unless it was inserted so: ``marked``), then try to
    arm the destination's drain; the :class:`WaitForSlot` for the caller to raise."""
    now = timezone.now()
    if not marked:
        SlackDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
            waiting_since=Coalesce(F("waiting_since"), now), updated_at=now
        )
        delivery.waiting_since = delivery.waiting_since or now
    drain = arm(delivery.channel, next_at, now.timestamp())
    logger.info(
        "Rule %r, alert %s (fingerprint=%s): waiting for the next slot of %s (in %.1fs)%s",
        delivery.rule_name,
        delivery.alert_id,
        delivery.fingerprint,
        delivery.channel,
        max(0.0, next_at - now.timestamp()),
        "" if drain is None else "; its drain is queued",
    )
    return WaitForSlot(delivery.channel, next_at, drain)


def waiting(destination: str | None = None) -> QuerySet[SlackDelivery]:
    """The deliveries waiting for a slot (of ``destination``)."""
    found = SlackDelivery.objects.filter(state=DeliveryState.PENDING, waiting_since__isnull=False)
    return found if destination is None else found.filter(channel=destination)
