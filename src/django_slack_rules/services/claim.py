"""A delivery's row as its attempts go: claimed, settled with Slack's answer, reset to resend.

Each write is one conditional UPDATE, so two workers (or two people pressing "resend") never
act on the same row at once:

- :func:`claim`: pending (or ``sending`` past its lease: its worker died) → ``sending``,
  counting the attempt and stamping ``claimed_at``;
- :func:`settle`: the outcome, written only while that claim holds (the same ``claimed_at``);
- :func:`reset_for_resend`: failed or cancelled → pending.
"""

from __future__ import annotations

import datetime
import logging

from django.db import InterfaceError, OperationalError, router, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ..backends import SlackResult
from ..exceptions import SlackDeliveryError
from ..models import DeliveryState, SlackDelivery
from . import pacing
from .log_prefix import about

logger = logging.getLogger(__name__)

#: States from which a delivery can be sent again ("resend" in the admin and the log).
RESENDABLE_STATES = (DeliveryState.FAILED, DeliveryState.CANCELLED)


def claim(delivery: SlackDelivery) -> bool:
    """Take ``delivery`` for sending (one conditional UPDATE); False when it is settled, or
    claimed by another attempt whose lease holds.

    The UPDATE also checks the attempts count ``delivery`` holds, so the new count is known
    without reading the row back; when another attempt changed the row since, it is read
    again and, if still free, taken."""
    for _ in range(2):
        now = timezone.now()
        abandoned = now - datetime.timedelta(seconds=pacing.lease_seconds())
        claimed = (
            SlackDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts)
            .filter(
                Q(state=DeliveryState.PENDING)
                | Q(state=DeliveryState.SENDING, claimed_at__lt=abandoned)
            )
            .update(
                state=DeliveryState.SENDING,
                claimed_at=now,
                attempts=delivery.attempts + 1,
                waiting_since=None,
                updated_at=now,
            )
        )
        if claimed:
            delivery.state, delivery.claimed_at = str(DeliveryState.SENDING), now
            delivery.attempts += 1
            delivery.waiting_since = None
            return True
        delivery.refresh_from_db(fields=["state", "attempts", "claimed_at"])
        if delivery.state != str(DeliveryState.PENDING) and not _abandoned(delivery):
            return False
    return False


def _abandoned(delivery: SlackDelivery) -> bool:
    """True when ``delivery`` is ``sending`` but its claim's lease has run out."""
    return (
        delivery.state == str(DeliveryState.SENDING)
        and delivery.claimed_at is not None
        and lease_left(delivery.claimed_at) <= 0
    )


def lease_left(claimed_at: datetime.datetime) -> float:
    """Seconds until a claim made at ``claimed_at`` runs out (:func:`.pacing.lease_seconds`);
    0 or less: its worker counts as dead, and another attempt may take the delivery."""
    return pacing.lease_seconds() - (timezone.now() - claimed_at).total_seconds()


def sent_fields(result: SlackResult) -> dict[str, object]:
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
        "retry_at": None,
    }


def failure_fields(exc: SlackDeliveryError) -> dict[str, object]:
    """The fields that record a refused or failed send."""
    return {
        "last_error": str(exc),
        "slack_error": exc.error[:255],
        "failure_reason": exc.reason,
        "http_status": exc.status_code,
        "response": exc.response_text,
    }


def settle(delivery: SlackDelivery, **fields: object) -> bool:
    """Record ``fields`` on the delivery's row while ``delivery``'s claim holds (one UPDATE),
    and on ``delivery``; False, and nothing written, when another attempt has claimed it
    since (this attempt's lease ran out). Only the fields that change are written: the
    claim holds the row, so ``delivery`` is what the row holds."""
    fields = {name: value for name, value in fields.items() if getattr(delivery, name) != value}
    fields["updated_at"] = timezone.now()
    claimed = SlackDelivery.objects.filter(
        pk=delivery.pk, state=DeliveryState.SENDING, claimed_at=delivery.claimed_at
    )
    try:
        written = claimed.update(**fields)
    except (OperationalError, InterfaceError):
        # The connection was lost while Slack had the message (a failover, a restarted
        # pooler): the outcome is written on a new one, so that it is not sent again.
        connection = transaction.get_connection(router.db_for_write(SlackDelivery))
        if connection.in_atomic_block:
            raise
        connection.close()
        written = claimed.update(**fields)
    if not written:
        logger.warning(
            *about(
                delivery,
                "another attempt claimed it after this one's lease ran out; this attempt's "
                "outcome (%s) is not recorded",
                fields.get("state"),
            )
        )
        return False
    for name, value in fields.items():
        setattr(delivery, name, value)
    return True


def reset_for_resend(queryset: QuerySet[SlackDelivery]) -> list[int]:
    """Put the failed or cancelled deliveries of ``queryset`` back to pending; the ids of
    those this call reset (a concurrent resend of the same row resets it once)."""
    reset = []
    for pk in queryset.filter(state__in=RESENDABLE_STATES).values_list("pk", flat=True):
        if SlackDelivery.objects.filter(pk=pk, state__in=RESENDABLE_STATES).update(
            state=DeliveryState.PENDING,
            attempts=0,
            last_error="",
            slack_error="",
            failure_reason="",
            http_status=None,
            retry_at=None,
            updated_at=timezone.now(),
        ):
            reset.append(pk)
    return reset
