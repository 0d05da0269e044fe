"""Delivering one notification exactly once: record, claim, send, Slack's answer, retry policy.

Delivery is at-most-once per notification: each one has a
:class:`~django_slack_rules.models.SlackDelivery` row with a unique idempotency
key (rule, alert, status, occurrence), and a worker sends only after claiming
the row atomically (pending → sending). A retried or redelivered task finds the
row sent, or claimed by another worker, and stops.

A claim is a lease: a worker that dies while sending leaves the row in
"sending"; once the lease (both timeouts plus a margin) has expired another
attempt may claim it again.

Each destination is paced (:mod:`.pacing`): a delivery takes its destination's slot
before it is claimed, and one without a slot waits in line (:class:`.pacing.WaitForSlot`),
using no attempt, for the destination's drain (:mod:`.drain`).

Nothing here knows Celery. What can succeed later raises :class:`RetryLater`
with the seconds to wait; the task (``tasks.py``) turns it into ``self.retry``.
"""

from __future__ import annotations

import datetime
import logging
import random
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import router
from django.db.models import Q, QuerySet
from django.utils import timezone

from ..backends import SlackResult
from ..conf import slack_rules_settings
from ..exceptions import SlackDeliveryError, SlackRateLimitedError, SlackSendCancelled
from ..models import (
    ACTION_POST,
    FINAL_STATES,
    DeliveryState,
    DestinationPause,
    SlackDelivery,
    claiming,
)
from . import conversation, pacing
from .slack_service import SlackService

logger = logging.getLogger(__name__)

#: States from which a delivery can be sent again.
RESENDABLE_STATES = (DeliveryState.FAILED, DeliveryState.CANCELLED)
#: Seconds added to the timeouts before a "sending" claim counts as abandoned.
LEASE_MARGIN = 30.0


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


def lease_seconds() -> float:
    return slack_rules_settings.CONNECT_TIMEOUT + slack_rules_settings.READ_TIMEOUT + LEASE_MARGIN


# -- Slack's answer → the delivery's fields ------------------------------------------


def sent_fields(result: SlackResult) -> dict[str, Any]:
    """The fields that record a send Slack accepted."""
    return {
        "state": DeliveryState.SENT,
        "sent_at": timezone.now(),
        "http_status": result.status_code,
        "response": result.response_text,
        "message_ts": result.ts,
        "channel_id": result.channel_id,
        "last_error": "",
        "slack_error": "",
        "failure_reason": "",
    }


def failure_fields(exc: SlackDeliveryError) -> dict[str, Any]:
    """The fields that record a refused or failed send."""
    return {
        "last_error": str(exc),
        "slack_error": exc.error[:255],
        "failure_reason": exc.reason,
        "http_status": exc.status_code,
        "response": exc.response_text,
    }


def update(delivery: SlackDelivery, **fields: Any) -> None:
    """Write ``fields`` to the delivery's row (and to ``delivery``, but for expressions)."""
    claiming.write_fields(
        delivery.pk,
        {"updated_at": timezone.now(), **fields},
        using=router.db_for_write(SlackDelivery),
    )
    for name, value in fields.items():
        if not hasattr(value, "resolve_expression"):
            setattr(delivery, name, value)


# -- claiming and sending -------------------------------------------------------------


def claim(delivery: SlackDelivery) -> bool:
    """Atomically take ``delivery`` for sending; False when it is sent or claimed elsewhere.

    One UPDATE that also checks the attempts count ``delivery`` holds, so the new count
    is known without reading the row back. When another attempt changed the row since,
    it is read again (``state``, ``attempts``, ``claimed_at``) and, if still free, taken.
    """
    for _ in range(2):
        now = timezone.now()
        abandoned = now - datetime.timedelta(seconds=lease_seconds())
        attempts = delivery.attempts + 1
        claimed = (
            SlackDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts)
            .filter(
                Q(state=DeliveryState.PENDING)
                | Q(state=DeliveryState.SENDING, claimed_at__lt=abandoned)
            )
            .update(
                state=DeliveryState.SENDING,
                claimed_at=now,
                attempts=attempts,
                updated_at=now,
                waiting_since=None,
            )
        )
        if claimed:
            delivery.state, delivery.claimed_at, delivery.attempts = (
                str(DeliveryState.SENDING),
                now,
                attempts,
            )
            delivery.waiting_since = None
            return True
        delivery.refresh_from_db(fields=["state", "attempts", "claimed_at"])
        if delivery.state != str(DeliveryState.PENDING):
            return False
    return False


def _log_args(delivery: SlackDelivery) -> tuple[str, str, str, str]:
    return (delivery.rule_name, delivery.alert_id, delivery.fingerprint, delivery.channel)


def send_claimed(delivery: SlackDelivery, service: SlackService | None = None) -> str:
    """Send a claimed delivery once and record what happened; return its state.

    Raises :class:`SlackSendCancelled` when a ``pre_send`` receiver cancelled it (it is
    recorded as cancelled), and the :class:`SlackDeliveryError` of a send Slack (or the
    network) refused, unrecorded: what that means depends on who sends (:func:`deliver`
    retries it, a test send does not).
    """
    log_args = _log_args(delivery)
    try:
        service = service or SlackService()
        result, how = conversation.send(delivery, service)
    except conversation.Skipped as exc:
        update(delivery, state=DeliveryState.CANCELLED, last_error=str(exc), note=str(exc))
        logger.info("Rule %r, alert %s (fingerprint=%s) to %s: %s", *log_args, exc)
        raise
    except SlackSendCancelled as exc:
        update(delivery, state=DeliveryState.CANCELLED, last_error=f"Cancelled by pre_send: {exc}")
        logger.info("Rule %r, alert %s (fingerprint=%s) to %s: cancelled by pre_send", *log_args)
        raise
    except SlackDeliveryError:
        raise
    except ImproperlyConfigured as exc:
        update(delivery, state=DeliveryState.FAILED, last_error=str(exc))
        logger.error(
            "Rule %r, alert %s (fingerprint=%s) to %s: not sent, the package is misconfigured: %s",
            *log_args,
            exc,
        )
        return str(delivery.state)
    except Exception as exc:
        update(delivery, state=DeliveryState.FAILED, last_error=f"{type(exc).__name__}: {exc}")
        logger.exception(
            "Rule %r, alert %s (fingerprint=%s) to %s: unexpected error while sending", *log_args
        )
        return str(delivery.state)
    update(delivery, **{**sent_fields(result), **how})
    logger.info(
        "Rule %r, alert %s (fingerprint=%s): sent to %s (attempt %d%s)",
        *log_args,
        delivery.attempts,
        "" if delivery.action == ACTION_POST else f", {delivery.action}",
    )
    if delivery.note:
        logger.info("Rule %r, alert %s (fingerprint=%s) to %s: %s", *log_args, delivery.note)
    return str(delivery.state)


def deliver(delivery: SlackDelivery, *, paced: bool = True, slot_taken: bool = False) -> str:
    """Take the destination's slot, claim, send and record one delivery; return its state.

    Raises :class:`RetryLater` when it can succeed later: its first message is not sent
    yet, another attempt holds the claim, Slack's refusal is one that can pass, or (without
    pacing) the destination is paused. Raises :class:`.pacing.WaitForSlot` when it waits
    for the destination's next slot. ``paced``: False sends without pacing (a task run
    eagerly, which cannot wait); ``slot_taken``: the caller (a drain) has the slot.
    """
    log_args = _log_args(delivery)
    if delivery.state in FINAL_STATES:
        logger.info(
            "Rule %r, alert %s (fingerprint=%s) to %s: already %s; not sent again",
            *log_args,
            delivery.state,
        )
        return str(delivery.state)

    wait = conversation.parent_wait(delivery)
    if wait > 0:
        # A thread reply or an update needs its first message's ts: wait for it (bounded).
        logger.info(
            "Rule %r, alert %s (fingerprint=%s) to %s: waiting %.1fs for the firing message",
            *log_args,
            wait,
        )
        raise RetryLater(wait + random.uniform(0, 0.5))

    if not slot_taken:
        take_slot(delivery, pacing.current() if paced else None)

    if not claim(delivery):
        if delivery.state == str(DeliveryState.SENDING) and delivery.claimed_at is not None:
            # Another attempt is sending it. Look again once its lease has run out: by
            # then it is sent, or that attempt died and this one takes the delivery over.
            elapsed = (timezone.now() - delivery.claimed_at).total_seconds()
            wait = max(1.0, lease_seconds() - elapsed) + random.uniform(0, 1)
            logger.info(
                "Rule %r, alert %s (fingerprint=%s) to %s: being sent by another attempt; "
                "checking again in %.1fs",
                *log_args,
                wait,
            )
            raise RetryLater(wait)
        logger.info(
            "Rule %r, alert %s (fingerprint=%s) to %s: already %s; not sent again",
            *log_args,
            delivery.state,
        )
        return str(delivery.state)

    return send_and_settle(delivery, paced=paced)


def take_slot(delivery: SlackDelivery, pace: pacing.Pace | None) -> None:
    """Return when ``delivery`` may be sent now; raise when it has to wait.

    A paused destination (Slack answered 429) sends nothing until the pause ends, and the
    wait uses no attempt: with pacing, in the destination's line; without, by a retry.
    """
    paused = DestinationPause.remaining(delivery.channel)
    if paused > 0:
        logger.info(
            "Rule %r, alert %s (fingerprint=%s): %s is rate-limited for %.1fs more; waiting",
            *_log_args(delivery),
            paused,
        )
        if pace is None:
            raise RetryLater(paused + random.uniform(0, 1))
        pacing.hold(delivery.channel, paused, pace)
    if pace is not None:
        slot = pacing.take(delivery.channel, pace)
        if not slot.granted:
            raise pacing.wait_in_line(delivery, slot.next_at)


def send_and_settle(delivery: SlackDelivery, *, paced: bool = True) -> str:
    """Send a claimed delivery; a refusal goes through the retry policy."""
    try:
        return send_claimed(delivery)
    except SlackSendCancelled:
        return str(delivery.state)
    except SlackDeliveryError as exc:
        return _retry_or_fail(delivery, exc, paced=paced)


def _retry_or_fail(delivery: SlackDelivery, exc: SlackDeliveryError, *, paced: bool) -> str:
    """The retry policy: record the failure, and raise :class:`RetryLater` if it can pass."""
    log_args = _log_args(delivery)
    record = failure_fields(exc)
    max_attempts = slack_rules_settings.MAX_ATTEMPTS
    if not exc.retryable or delivery.attempts >= max_attempts:
        update(delivery, state=DeliveryState.FAILED, **record)
        logger.error(
            "Rule %r, alert %s (fingerprint=%s) to %s: failed after %d attempt(s), not retried: %s",
            *log_args,
            delivery.attempts,
            exc,
        )
        return str(delivery.state)

    if isinstance(exc, SlackRateLimitedError):
        wait = exc.retry_after if exc.retry_after is not None else backoff_delay(delivery.attempts)
        DestinationPause.pause(delivery.channel, wait)
        pace = pacing.current()
        if pace is not None:
            # No slot while the pause lasts, for any delivery (one recorded in one statement
            # sees the pause only there: ``models.claiming``).
            pacing.hold(delivery.channel, wait, pace)
        if pace is not None and paced:
            # Back in the destination's line, which waits until the pause is over.
            update(delivery, state=DeliveryState.PENDING, waiting_since=timezone.now(), **record)
            logger.warning(
                "Rule %r, alert %s (fingerprint=%s) to %s: attempt %d of %d rate-limited (%s); "
                "waiting %.1fs",
                *log_args,
                delivery.attempts,
                max_attempts,
                exc,
                wait,
            )
            raise pacing.wait_in_line(delivery, time.time() + wait, marked=True)
        countdown = wait + random.uniform(0, 1)
    else:
        countdown = backoff_delay(delivery.attempts)
    update(delivery, state=DeliveryState.PENDING, **record)
    logger.warning(
        "Rule %r, alert %s (fingerprint=%s) to %s: attempt %d of %d failed (%s); retrying in %.1fs",
        *log_args,
        delivery.attempts,
        max_attempts,
        exc,
        countdown,
    )
    raise RetryLater(countdown)


def reset_for_resend(queryset: QuerySet[SlackDelivery]) -> list[int]:
    """Put the failed or cancelled deliveries of ``queryset`` back to pending; their ids."""
    ids = list(queryset.filter(state__in=RESENDABLE_STATES).values_list("pk", flat=True))
    if ids:
        SlackDelivery.objects.filter(pk__in=ids).update(
            state=DeliveryState.PENDING, attempts=0, last_error="", slack_error="", http_status=None
        )
    return ids
