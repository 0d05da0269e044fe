"""A destination's drain: the deliveries waiting for it, sent one slot at a time.

While deliveries wait for a destination, one drain task runs for it, armed by the first
delivery that waited (:mod:`.pacing`) and queued with a countdown to the slot. At its slot
(:func:`run`) it sends the oldest waiting delivery; when more than
``SLACK_RULES["DIGEST_AFTER"]`` wait, one digest of them instead (:mod:`.digest`). A
delivery of a rule that opted out of digests (``digest_opt_out``), and a retried digest,
are never folded: each goes alone when it is the oldest. Then the drain hands the
destination over to its successor, due at the next slot, or lets go when nothing waits
and looks once more (a delivery that arrived meanwhile armed a drain, or is seen now).

Only the drain holding the destination's token works: a stale one (a message the broker
delivered twice, a drain replaced because it was lost) finds another token and stops.
Nothing here knows Celery: :func:`run` returns the next drain to queue, and the
deliveries whose retry is to be queued.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..conf import slack_rules_settings
from ..models import STATUS_DIGEST, DeliveryState, DestinationPace, DestinationPause, SlackDelivery
from . import digest, pacing
from .delivery import RetryLater, deliver, send_and_settle
from .recording import with_companion

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a drain did at its slot: ``state`` ("digest", a delivery's state, "idle",
    "paused", "early", "superseded", "unpaced"), the next drain to queue, and the
    deliveries to retry later ``(id, countdown)``."""

    state: str
    next: pacing.Drain | None = None
    retries: list[tuple[int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Waiting:
    pk: int
    foldable: bool


def run(destination: str, token: int) -> Outcome:
    """The drain of ``destination`` holding ``token``: use this slot, then hand over."""
    now = time.time()
    if not DestinationPace.hand_over(
        destination, token, drain_at=now + pacing.drain_lease(), new_token=None
    ):
        return Outcome("superseded")
    pace = pacing.current()
    if pace is None:
        # Pacing was switched off while deliveries waited: each goes now, unpaced.
        DestinationPace.hand_over(destination, token, drain_at=None, new_token=None)
        ids = list(pacing.waiting(destination).values_list("pk", flat=True))
        return Outcome("unpaced", retries=[(pk, 0.0) for pk in ids])
    paused = DestinationPause.remaining(destination)
    if paused > 0:
        pacing.hold(destination, paused, pace)
        return _hand_over(destination, token, now + paused, "paused")
    if not DestinationPace.take(
        destination, interval=pace.interval, tolerance=pace.tolerance, now=now, drain_token=token
    ):
        return _hand_over(destination, token, pacing.next_slot(destination, pace, now), "early")
    line = _line(destination)
    if not line:
        return _let_go(destination, token, pace, "idle")
    state, used, retries = _use_slot(destination, line)
    if len(line) > used:
        outcome = _hand_over(destination, token, pacing.next_slot(destination, pace), state)
    else:
        outcome = _let_go(destination, token, pace, state)
    outcome.retries = retries
    logger.info(
        "Drain of %s: %s; %d waiting before this slot%s",
        destination,
        state,
        len(line),
        "" if outcome.next is None else f"; next slot in {outcome.next.countdown:.1f}s",
    )
    return outcome


def _line(destination: str) -> list[Waiting]:
    """The deliveries waiting for ``destination``, oldest first."""
    rows = (
        pacing.waiting(destination)
        .order_by("created_at", "pk")
        .values_list("pk", "alert_status", "rule__digest_opt_out")
    )
    return [Waiting(pk, status != STATUS_DIGEST and not opt_out) for pk, status, opt_out in rows]


def _use_slot(destination: str, line: list[Waiting]) -> tuple[str, int, list[tuple[int, float]]]:
    """Send one digest of the line, or its oldest delivery: (state, how many it took,
    retries to queue)."""
    after = slack_rules_settings.DIGEST_AFTER
    foldable = [item.pk for item in line if item.foldable]
    if after is not None and len(line) > after and line[0].foldable and len(foldable) > 1:
        folded = digest.fold(destination, foldable[: digest.MAX_FOLD])
        if folded is not None:
            message, count = folded
            logger.info(
                "Drain of %s: %d of %d waiting deliveries folded into digest #%s",
                destination,
                count,
                len(line),
                message.pk,
            )
            return "digest", count, _send(message, lambda: send_and_settle(message))
    oldest = SlackDelivery.objects.filter(pk=line[0].pk).first()
    if oldest is None:
        return "gone", 1, []

    def send() -> str:
        state = deliver(oldest, slot_taken=True)
        with_companion(oldest)
        return state

    retries = _send(oldest, send)
    return str(oldest.state), 1, retries


def _send(delivery: SlackDelivery, send: Callable[[], object]) -> list[tuple[int, float]]:
    """Run ``send``; a delivery that can succeed later leaves the line for its own retry."""
    try:
        send()
    except RetryLater as later:
        SlackDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
            waiting_since=None
        )
        return [(delivery.pk, later.countdown)]
    except pacing.WaitForSlot:
        pass  # Slack answered 429: it is back in line, and this drain holds the destination
    return []


def _hand_over(destination: str, token: int, next_at: float, state: str) -> Outcome:
    """Arm this drain's successor at ``next_at``."""
    now = time.time()
    new = pacing.new_token()
    due = max(now, next_at)
    if DestinationPace.hand_over(destination, token, drain_at=due, new_token=new):
        return Outcome(state, pacing.Drain(destination, new, due - now))
    return Outcome(state)  # replaced meanwhile: the other drain goes on


def _let_go(destination: str, token: int, pace: pacing.Pace, state: str) -> Outcome:
    """Nothing waits: let go of the destination, then look once more."""
    DestinationPace.hand_over(destination, token, drain_at=None, new_token=None)
    if pacing.waiting(destination).exists():
        return Outcome(state, pacing.arm(destination, pacing.next_slot(destination, pace)))
    return Outcome(state)
