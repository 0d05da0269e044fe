"""Pacing: each destination's slots and its line, shared by every worker through the database.

A destination (a channel, or a webhook) takes ``SLACK_RULES["CHANNEL_RATE"]`` messages per
second, with bursts of ``CHANNEL_BURST``. A delivery takes a slot before it is sent
(:func:`take`: one UPDATE of the destination's :class:`~django_slack_rules.models.DestinationPace`).

One without a slot joins the destination's line (:func:`wait_in_line`): it is marked
``waiting_since``, using no attempt, and its task ends. While a line exists, newcomers join
it instead of taking a free slot: the line goes first. Each slot of a line sends its oldest
delivery, or one digest of it when it is long (:mod:`.drain`); whichever task comes first
when the slot opens uses it: a delivery's task that has just joined, or the destination's
drain, a task queued with a countdown to the next slot (``drain_at``, ``drain_token``).

A 429 (:func:`pause`) pauses the destination: no slot until Retry-After has passed.

A destination is the channel's Slack id once Slack has told us the id of a channel name
(bot mode), so ``#alerts`` and ``C0123…`` share one pace (:func:`destination_of`).

Nothing here knows Celery: a delivery that waits raises :class:`WaitForSlot`, carrying the
drain to queue when this caller armed it (``tasks.py`` queues it).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..conf import slack_rules_settings
from ..models import (
    DeliveryState,
    DestinationPace,
    DestinationPause,
    KnownChannel,
    SlackDelivery,
)
from .log_prefix import about_alert

logger = logging.getLogger(__name__)

#: Seconds added to a claim's lease for what is not the network (see lease_seconds).
LEASE_MARGIN = 5.0
#: How often a process reads again the channel ids other processes learned (seconds).
CHANNEL_IDS_MAX_AGE = 60.0


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


def lease_seconds() -> float:
    """How long a claim (or an armed drain) holds before its worker counts as dead: two Slack
    calls at their timeouts (an update Slack refuses is posted instead) and a margin."""
    timeouts = slack_rules_settings.CONNECT_TIMEOUT + slack_rules_settings.READ_TIMEOUT
    return 2 * timeouts + LEASE_MARGIN


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
    """The delivery waits in its destination's line, marked waiting (no attempt used).

    ``drain``: the destination's drain, which this caller armed and must queue; None when a
    drain is due already.
    """

    def __init__(self, destination: str, next_at: float, drain: Drain | None) -> None:
        super().__init__(f"waiting for the next slot of {destination}")
        self.destination = destination
        self.next_at = next_at
        self.drain = drain


# -- one pace per channel, whatever its spelling -----------------------------------------


class _ChannelIds:
    """Channel name → Slack id, as Slack told any worker (``KnownChannel``), read again at
    most every ``CHANNEL_IDS_MAX_AGE`` seconds."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: dict[str, str] = {}
        self.read_at = float("-inf")

    def get(self) -> dict[str, str]:
        if time.monotonic() - self.read_at > CHANNEL_IDS_MAX_AGE:
            with self.lock:
                self.ids = dict(KnownChannel.objects.values_list("name", "channel_id"))
                self.read_at = time.monotonic()
        return self.ids

    def forget(self) -> None:
        self.read_at = float("-inf")


channel_ids = _ChannelIds()


def destination_of(channel: str) -> str:
    """The pace, pause and line key of ``channel``: its Slack id when known, else itself."""
    if not channel.startswith("#"):
        return channel
    return channel_ids.get().get(channel, channel)


def channels_of(destination: str) -> list[str]:
    """Every spelling of ``destination`` the deliveries may hold (its id and its names)."""
    names = [name for name, id_ in channel_ids.get().items() if id_ == destination]
    return [destination, *names]


def learn_channel_id(channel: str, channel_id: str) -> None:
    """Remember that Slack knows ``channel`` (a "#name") as ``channel_id``."""
    if (
        not channel.startswith("#")
        or not channel_id
        or channel_ids.get().get(channel) == channel_id
    ):
        return
    KnownChannel.objects.update_or_create(name=channel, defaults={"channel_id": channel_id})
    channel_ids.forget()
    # The id's bucket starts where the name's is, so learning the id grants no new burst.
    state = DestinationPace.read(channel)
    if state is not None:
        DestinationPace.hold(channel_id, state[0])
    logger.info("Slack knows %s as %s: one pace for both from now on", channel, channel_id)


# -- slots, pauses and the line ----------------------------------------------------------


def take(
    channel: str, pace: Pace | None, now: float | None = None, *, for_line: bool = False
) -> Slot:
    """Take ``channel``'s slot now (one UPDATE when there is one); without pacing (``pace``
    None) the slot is always free, and nothing is read or written.

    A newcomer gets none while the destination has a line (its drain is armed): the line
    goes first. ``for_line``: the slot is for the line's oldest delivery (or its digest).
    A destination never paced before gets its row, and the slot.
    """
    if pace is None:
        return Slot(True)
    destination = destination_of(channel)
    now = time.time() if now is None else now
    for _ in range(3):
        if DestinationPace.take(
            destination,
            interval=pace.interval,
            tolerance=pace.tolerance,
            now=now,
            for_line=for_line,
        ):
            return Slot(True)
        state = DestinationPace.read(destination)
        if state is None:
            if DestinationPace.start(destination, now + pace.interval):
                return Slot(True)
            continue  # another process created the row meanwhile
        tat, drain_at = state
        if tat <= now + pace.tolerance and (for_line or drain_at is None):
            continue  # freed meanwhile (a line let go, a row just created)
        return Slot(False, max(now, tat - pace.tolerance))
    return Slot(False, now + pace.interval)


def pause(channel: str, seconds: float, pace: Pace | None) -> None:
    """Slack answered 429 for ``channel``: no worker sends there for ``seconds``, and after
    that one message per interval (no burst)."""
    destination = destination_of(channel)
    DestinationPause.pause(destination, seconds)
    if pace is not None:
        DestinationPace.hold(destination, time.time() + seconds + pace.tolerance)


def paused_for(channel: str) -> float:
    """Seconds until ``channel`` may be sent to again after a 429 (0: it is not paused)."""
    return DestinationPause.remaining(destination_of(channel))


def next_slot(destination: str, pace: Pace, now: float | None = None) -> float:
    """When ``destination``'s next slot opens (seconds since the epoch; ``now`` if open)."""
    now = time.time() if now is None else now
    state = DestinationPace.read(destination)
    return now if state is None else max(now, state[0] - pace.tolerance)


def arm(destination: str, next_at: float, now: float | None = None) -> Drain | None:
    """Become ``destination``'s drain, due at ``next_at``, unless one is due already (and
    not overdue by a lease: then it was lost). The :class:`Drain` the caller must queue."""
    now = time.time() if now is None else now
    due = max(now, next_at)
    token = random.getrandbits(62)
    stale_before = now - lease_seconds()
    if DestinationPace.arm(destination, due=due, token=token, stale_before=stale_before):
        return Drain(destination, token, due - now)
    return None


def wait_in_line(delivery: SlackDelivery, next_at: float, *, marked: bool = False) -> WaitForSlot:
    """Mark ``delivery`` waiting (unless it is so already: ``marked``), then arm the
    destination's drain; the :class:`WaitForSlot` for the caller to raise.

    Marked before arming: a drain that lets go looks at the line in the same statement
    (``DestinationPace.let_go``), so it sees this delivery, or this delivery arms a new one.
    """
    now = timezone.now()
    if not marked:
        SlackDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
            waiting_since=Coalesce(F("waiting_since"), now), updated_at=now
        )
        delivery.waiting_since = delivery.waiting_since or now
    destination = destination_of(delivery.channel)
    drain = arm(destination, next_at, now.timestamp())
    logger.info(
        *about_alert(
            delivery,
            "waiting for the next slot of %s (in %.1fs)%s",
            delivery.channel,
            max(0.0, next_at - now.timestamp()),
            "" if drain is None else "; its drain is queued",
        )
    )
    return WaitForSlot(destination, next_at, drain)


def waiting(destination: str | None = None) -> QuerySet[SlackDelivery]:
    """The deliveries waiting in line (for ``destination``)."""
    found = SlackDelivery.objects.filter(state=DeliveryState.PENDING, waiting_since__isnull=False)
    return found if destination is None else found.filter(channel__in=channels_of(destination))
