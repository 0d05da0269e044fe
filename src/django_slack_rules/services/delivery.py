"""Sending one recorded delivery: the worker's path, from the row to Slack and back.

Each notification is a :class:`~django_slack_rules.models.SlackDelivery` row, recorded with
the alert (:mod:`.outbox`). The task sends it by id (:func:`send_delivery`):

1. read the row; one already settled (sent, failed, cancelled, digested) is not sent again;
2. a thread reply or an update waits (bounded) until its first message is sent;
3. take the destination's slot (:mod:`.pacing`, one UPDATE); without one, the delivery joins
   the destination's line and its task ends, using no attempt;
4. claim it: one conditional UPDATE (pending, or ``sending`` past its lease → ``sending``)
   that counts the attempt and stamps ``claimed_at``, so two workers never both send it;
5. send it (:mod:`.conversation` plans a post, a thread reply or an update);
6. record the outcome with one UPDATE that applies only while this claim holds (the same
   ``claimed_at``): a stale attempt never overwrites a newer one.

Each notification is sent once, unless Slack's answer is lost: a request that timed out is
retried like any failure that can pass, and a delivery whose worker was killed while sending
is taken over once its claim's lease (both timeouts and a margin) has run out. So it is sent
at least once, and twice only when an answer was lost (docs/delivery.md).

What can succeed later raises :class:`RetryLater` with the seconds to wait (recorded as the
row's ``retry_at``); a 429 (or Slack's ``ratelimited``) pauses the destination for every
worker and uses no attempt. Nothing here knows Celery: ``tasks.py`` turns ``RetryLater``
into ``self.retry``.
"""

from __future__ import annotations

import datetime
import logging
import random
import time

from django.core.exceptions import ImproperlyConfigured
from django.db import router, transaction
from django.utils import timezone

from ..conf import slack_rules_settings
from ..exceptions import SlackDeliveryError, SlackRateLimitedError, SlackSendCancelled
from ..models import ACTION_POST, FINAL_STATES, DeliveryState, SlackDelivery
from ..typing import Id
from . import conversation, pacing
from .claim import claim, failure_fields, lease_left, sent_fields, settle
from .log_prefix import about, about_alert
from .slack_service import SlackService

logger = logging.getLogger(__name__)


class RetryLater(Exception):
    """The delivery can succeed later: try again in ``countdown`` seconds."""

    def __init__(self, countdown: float) -> None:
        super().__init__(f"retry in {countdown:.1f}s")
        self.countdown = countdown


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with jitter: BASE * 2**(attempt-1), capped, then halved at random."""
    base = slack_rules_settings.RETRY_BACKOFF_BASE
    cap = slack_rules_settings.RETRY_BACKOFF_MAX
    delay = min(cap, base * 2 ** min(max(0, attempt - 1), 64))
    return random.uniform(delay / 2, delay)


# -- the worker's path ----------------------------------------------------------------


def send_delivery(delivery_id: Id, *, paced: bool = True) -> str:
    """Send the delivery ``delivery_id`` (steps 1 to 6 above); its state, or "no-delivery".

    Raises :class:`RetryLater`, and :class:`~.pacing.WaitForSlot` when it joined its
    destination's line. ``paced``: False sends without waiting for a slot (a task run
    eagerly cannot wait)."""
    try:
        delivery = SlackDelivery.objects.get(pk=delivery_id)
    except SlackDelivery.DoesNotExist:
        logger.warning("Slack delivery %s no longer exists; nothing sent", delivery_id)
        return "no-delivery"
    state = deliver(delivery, paced=paced)
    send_companion(delivery, paced=paced)
    return state


def deliver(delivery: SlackDelivery, *, paced: bool = True, slot_taken: bool = False) -> str:
    """Send ``delivery`` once and record the outcome; return its state.

    ``slot_taken``: the caller (the destination's line) holds the slot already.
    """
    if delivery.state in FINAL_STATES:
        return _settled_already(delivery)
    wait = conversation.parent_wait(delivery)
    if wait > 0:
        logger.info(*about(delivery, "waiting %.1fs for the firing message", wait))
        raise postpone(delivery, wait + random.uniform(0, 0.5))
    with transaction.atomic(using=router.db_for_write(SlackDelivery)):
        # The slot and the claim commit together (one commit), or neither.
        slot = pacing.Slot(True) if slot_taken else take_slot(delivery, paced)
        claimed = slot.granted and claim(delivery)
        if slot.granted and not claimed:
            transaction.set_rollback(True)  # the slot goes back: nothing is sent with it
    if not slot.granted:
        raise pacing.wait_in_line(delivery, slot.next_at)
    if not claimed:
        return _claimed_elsewhere(delivery)
    return send_and_settle(delivery, paced=paced)


def take_slot(delivery: SlackDelivery, paced: bool) -> pacing.Slot:
    """``delivery``'s slot: granted now, or when it opens (the delivery then joins the line).

    With pacing, a paused destination (Slack answered 429) has no slot until the pause
    ends. Without pacing (or ``paced`` False), the pause is read, and waited out by a retry
    (:class:`RetryLater`). Neither uses an attempt."""
    pace = pacing.current() if paced else None
    if pace is None:
        paused = pacing.paused_for(delivery.channel)
        if paused > 0:
            logger.info(*about(delivery, "rate-limited for %.1fs more; waiting", paused))
            raise RetryLater(paused + random.uniform(0, 1))
    return pacing.take(delivery.channel, pace)


def _claimed_elsewhere(delivery: SlackDelivery) -> str:
    """Another attempt holds ``delivery``: look again once its lease has run out (by then it
    is sent, or that attempt died and this one takes over); a settled one is left alone."""
    if delivery.state == str(DeliveryState.SENDING) and delivery.claimed_at is not None:
        wait = max(1.0, lease_left(delivery.claimed_at)) + random.uniform(0, 1)
        logger.info(
            *about(delivery, "being sent by another attempt; checking again in %.1fs", wait)
        )
        raise RetryLater(wait)
    return _settled_already(delivery)


def _settled_already(delivery: SlackDelivery) -> str:
    """``delivery`` was settled by another attempt (or before): say so; its state."""
    logger.info(*about(delivery, "already %s; not sent again", delivery.state))
    return str(delivery.state)


def send_and_settle(delivery: SlackDelivery, *, paced: bool = True) -> str:
    """Send a claimed delivery; a refusal goes through the retry policy."""
    try:
        return send_claimed(delivery)
    except SlackSendCancelled:
        return str(delivery.state)
    except SlackDeliveryError as exc:
        return _retry_or_fail(delivery, exc, paced=paced)


def send_claimed(delivery: SlackDelivery, service: SlackService | None = None) -> str:
    """Send a claimed delivery once and record what happened; return its state.

    Raises :class:`SlackSendCancelled` when a ``pre_send`` receiver cancelled it (recorded
    as cancelled), and the :class:`SlackDeliveryError` of a send Slack (or the network)
    refused, unrecorded: what that means depends on who sends (:func:`deliver` retries it,
    a test send does not).
    """
    try:
        result, how = conversation.send(delivery, service or SlackService())
    except conversation.Skipped as exc:
        settle(delivery, state=DeliveryState.CANCELLED, last_error=str(exc), note=str(exc))
        logger.info(*about(delivery, "%s", exc))
        raise
    except SlackSendCancelled as exc:
        settle(delivery, state=DeliveryState.CANCELLED, last_error=f"Cancelled by pre_send: {exc}")
        logger.info(*about(delivery, "cancelled by pre_send"))
        raise
    except SlackDeliveryError:
        raise
    except ImproperlyConfigured as exc:
        settle(delivery, state=DeliveryState.FAILED, last_error=str(exc), failure_reason="other")
        logger.error(*about(delivery, "not sent, the package is misconfigured: %s", exc))
        return str(delivery.state)
    except Exception as exc:
        settle(
            delivery,
            state=DeliveryState.FAILED,
            last_error=f"{type(exc).__name__}: {exc}",
            failure_reason="other",
        )
        logger.exception(*about(delivery, "unexpected error while sending"))
        return str(delivery.state)
    settle(delivery, **{**sent_fields(result), **how})
    pacing.learn_channel_id(delivery.channel, result.channel_id)
    logger.info(
        *about_alert(
            delivery,
            "sent to %s (attempt %d%s)",
            delivery.channel,
            delivery.attempts,
            "" if delivery.action == ACTION_POST else f", {delivery.action}",
        )
    )
    if delivery.note:
        logger.info(*about(delivery, "%s", delivery.note))
    return str(delivery.state)


def _retry_or_fail(delivery: SlackDelivery, exc: SlackDeliveryError, *, paced: bool) -> str:
    """The retry policy: record the failure, and raise what the caller must wait for.

    A rate limit pauses the destination and gives the attempt back: the delivery waits in
    the line (with pacing) or retries after Retry-After. Another failure that can pass is
    retried with backoff until ``MAX_ATTEMPTS``; the rest is final."""
    failure = failure_fields(exc)
    max_attempts = slack_rules_settings.MAX_ATTEMPTS
    if isinstance(exc, SlackRateLimitedError):
        wait = exc.retry_after if exc.retry_after is not None else backoff_delay(delivery.attempts)
        pace = pacing.current()
        pacing.pause(delivery.channel, wait, pace)
        logger.warning(
            *about(
                delivery,
                "rate-limited (%s); the channel waits %.1fs, and this attempt is not counted",
                exc,
                wait,
            )
        )
        given_back = {"state": DeliveryState.PENDING, "attempts": delivery.attempts - 1}
        if pace is not None and paced:
            settle(delivery, **given_back, waiting_since=timezone.now(), **failure)
            raise pacing.wait_in_line(delivery, time.time() + wait, marked=True)
        countdown = wait + random.uniform(0, 1)
        settle(delivery, **given_back, retry_at=_from_now(countdown), **failure)
        raise RetryLater(countdown)
    if not exc.retryable or delivery.attempts >= max_attempts:
        settle(delivery, state=DeliveryState.FAILED, **failure)
        logger.error(
            *about(delivery, "failed after %d attempt(s), not retried: %s", delivery.attempts, exc)
        )
        return str(delivery.state)
    countdown = backoff_delay(delivery.attempts)
    settle(delivery, state=DeliveryState.PENDING, retry_at=_from_now(countdown), **failure)
    logger.warning(
        *about(
            delivery,
            "attempt %d of %d failed (%s); retrying in %.1fs",
            delivery.attempts,
            max_attempts,
            exc,
            countdown,
        )
    )
    raise RetryLater(countdown)


def _from_now(seconds: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=seconds)


def postpone(delivery: SlackDelivery, countdown: float) -> RetryLater:
    """Note on a pending ``delivery`` when its retry is due (so the recovery leaves it alone
    until then); the :class:`RetryLater` for the caller to raise."""
    SlackDelivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
        retry_at=_from_now(countdown)
    )
    return RetryLater(countdown)


def send_companion(delivery: SlackDelivery, *, paced: bool = True) -> None:
    """After a resolution's settled thread reply (``update_and_reply``), send the update of
    the first message that goes with it, if the rule asks for it. It may wait for its slot
    (then the line sends it)."""
    companion = conversation.companion_update(delivery)
    if companion is not None:
        try:
            deliver(companion, paced=paced)
        except pacing.WaitForSlot as waiting:
            if waiting.drain is not None:
                raise
