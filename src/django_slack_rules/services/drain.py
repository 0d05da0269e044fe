"""A destination's line: the deliveries waiting for it, sent one slot at a time.

Each slot of a destination with a line (:mod:`.pacing`) sends the oldest waiting delivery,
or, when more than ``SLACK_RULES["DIGEST_AFTER"]`` wait, one digest of them (:mod:`.digest`).
A delivery of a rule that opted out of digests (``digest_opt_out``), and a digest, are
never folded: each goes alone when it is the oldest.

:func:`serve` uses a slot when one is free. Two kinds of tasks call it:

- a delivery's task that has just joined the line: in a storm they come all the time, so
  every slot is used as it opens, whatever else the queue holds;
- the destination's drain, queued with a countdown to the next slot by the first delivery
  that waited. :func:`run` serves, then hands the destination over to its successor, due
  at the next slot, or lets go when the line is empty, in the statement that sees it empty.

Only the drain holding the destination's token hands over: a stale one (a message the
broker delivered twice, a drain replaced because it was lost) serves a free slot at most,
and stops. Nothing here knows Celery: the caller queues the drains and retries returned.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

from django.db.models import Exists

from ..conf import slack_rules_settings
from ..models import STATUS_DIGEST, DeliveryState, DestinationPace, SlackDelivery
from . import digest, pacing
from .delivery import RetryLater, deliver, send_and_settle, send_companion

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a slot did: ``state`` ("digest", a delivery's state, "idle", "no-slot",
    "superseded", "unpaced"), the drains to queue, and the deliveries to retry later
    ``(id, countdown)``."""

    state: str
    drains: list[pacing.Drain] = field(default_factory=list)
    retries: list[tuple[int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Waiting:
    pk: int
    foldable: bool


def serve(destination: str) -> Outcome:
    """Use ``destination``'s slot for its line, if one is free now."""
    pace = pacing.current()
    if pace is None:
        # Pacing was switched off while deliveries waited: each goes now, unpaced.
        ids = list(pacing.waiting(destination).values_list("pk", flat=True))
        return Outcome("unpaced", retries=[(pk, 0.0) for pk in ids])
    if not pacing.take(destination, pace, for_line=True).granted:
        return Outcome("no-slot")
    line = _line(destination)
    if not line:
        return Outcome("idle")
    outcome = _use_slot(destination, line)
    logger.info(
        "Line of %s: %s; %d waiting before this slot", destination, outcome.state, len(line)
    )
    return outcome


def run(destination: str, token: int) -> Outcome:
    """The drain of ``destination`` holding ``token``: serve the slot, then hand over to the
    next drain, or let go when nothing waits."""
    outcome = serve(destination)
    pace = pacing.current()
    if pace is None:
        return outcome  # nothing to hand over: without pacing there is no line
    if DestinationPace.let_go(destination, token, Exists(pacing.waiting(destination))):
        return outcome
    now = time.time()
    due = pacing.next_slot(destination, pace, now)
    new_token = random.getrandbits(62)
    if DestinationPace.hand_over(destination, token, due=due, new_token=new_token):
        outcome.drains.append(pacing.Drain(destination, new_token, max(0.0, due - now)))
    elif outcome.state in ("no-slot", "idle"):
        outcome.state = "superseded"  # another drain holds the destination: it goes on
    return outcome


def _line(destination: str) -> list[Waiting]:
    """The deliveries waiting for ``destination``, oldest first."""
    rows = (
        pacing.waiting(destination)
        .order_by("created_at", "pk")
        .values_list("pk", "alert_status", "rule__digest_opt_out")
    )
    return [Waiting(pk, status != STATUS_DIGEST and not opt_out) for pk, status, opt_out in rows]


def _use_slot(destination: str, line: list[Waiting]) -> Outcome:
    """Send one digest of the line, or its oldest delivery."""
    after = slack_rules_settings.DIGEST_AFTER
    foldable = [item.pk for item in line if item.foldable]
    if after is not None and len(line) > after and line[0].foldable and len(foldable) > 1:
        folded = digest.fold(destination, foldable[: digest.MAX_FOLD])
        if folded is not None:
            message, count = folded
            logger.info(
                "Line of %s: %d of %d waiting deliveries folded into digest #%s",
                destination,
                count,
                len(line),
                message.pk,
            )
            return _send(message, state="digest")
    for item in line[:5]:
        # The oldest still waiting: another task may have just taken the one before.
        oldest = SlackDelivery.objects.filter(
            pk=item.pk, state=DeliveryState.PENDING, waiting_since__isnull=False
        ).first()
        if oldest is not None:
            return _send(oldest)
    return Outcome("gone")


def _send(delivery: SlackDelivery, *, state: str = "") -> Outcome:
    """Send ``delivery`` in the slot taken; one that can succeed later leaves the line for
    its own retry, and one Slack rate-limited is back in the line."""
    outcome = Outcome(state)
    try:
        if delivery.state == str(DeliveryState.SENDING):  # a digest, claimed as it was folded
            send_and_settle(delivery)
        else:
            deliver(delivery, slot_taken=True)
            send_companion(delivery)
    except RetryLater as later:
        SlackDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
            waiting_since=None
        )
        outcome.retries.append((delivery.pk, later.countdown))
    except pacing.WaitForSlot as waiting:  # Slack answered 429: it is back in the line
        if waiting.drain is not None:
            outcome.drains.append(waiting.drain)
    outcome.state = outcome.state or str(delivery.state)
    return outcome
