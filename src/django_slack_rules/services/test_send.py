""" "Test send" from the rule pages: one message now, recorded as a delivery, never retried."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from ..exceptions import SlackDeliveryError, SlackRateLimitedError, SlackSendCancelled
from ..hints import hint_for, hop_for
from ..models import DeliveryState, SlackDelivery, SlackIntegrationRule
from ..typing import JSONValue
from . import pacing
from .claim import failure_fields, settle
from .delivery import send_claimed
from .slack_service import SlackService, prepare_message

logger = logging.getLogger(__name__)

#: ``SlackDelivery.alert_status`` of a message sent with "Test send" from the rule pages.
TEST_STATUS = "test"


@dataclass
class TestSendOutcome:
    """What happened to a test send: sent, or why not (with a hint)."""

    sent: bool
    channel: str
    text: str
    delivery: SlackDelivery | None = None
    error: str = ""  # Slack's (or the gateway's) error string, e.g. "channel_not_found"
    detail: str = ""  # the full description (never the endpoint URL)
    status_code: int | None = None
    hint: str = ""
    reason: str = ""  # which hop failed (exceptions.FAILURE_REASONS), "" before any was tried

    @property
    def hop(self) -> str:
        """Which hop failed, in words: "gateway refused", "Slack refused"…; "" when none."""
        return hop_for(self.reason)


def send_test_message(
    rule: SlackIntegrationRule, channel: str, text: str, blocks: list[JSONValue] | None = None
) -> TestSendOutcome:
    """Send ``text`` (and Block Kit ``blocks``) to ``channel`` now, through the configured
    backend, without retrying.

    It is recorded as a delivery of ``rule`` with alert status "test", so it shows in the
    delivery log. Never raises for a failed send: the outcome says what Slack answered.
    """
    text = prepare_message(text)
    paused = pacing.paused_for(channel)
    if paused > 0:
        return TestSendOutcome(
            sent=False,
            channel=channel,
            text=text,
            error="rate_limited",
            detail=gettext(
                "%(channel)s is rate-limited by Slack for %(seconds).0fs more; nothing was sent."
            )
            % {"channel": channel, "seconds": paused},
            hint=gettext(
                "Wait until the pause is over: sending while rate-limited can get the app disabled."
            ),
        )
    pace = pacing.current()
    slot = pacing.take(channel, pace)
    if not slot.granted:
        backlog = pacing.waiting(pacing.destination_of(channel)).count()
        return TestSendOutcome(
            sent=False,
            channel=channel,
            text=text,
            error="paced",
            detail=ngettext(
                "%(channel)s has no free slot now: %(count)d message waits for it, and Slack "
                "takes about one per second per channel. Nothing was sent.",
                "%(channel)s has no free slot now: %(count)d messages wait for it, and Slack "
                "takes about one per second per channel. Nothing was sent.",
                backlog,
            )
            % {"channel": channel, "count": backlog},
            hint=gettext("Try again in %(seconds).0f s.")
            % {"seconds": max(1.0, slot.next_at - time.time())},
        )
    try:
        service = SlackService()
    except ImproperlyConfigured as exc:
        return TestSendOutcome(
            sent=False,
            channel=channel,
            text=text,
            error="misconfigured",
            detail=str(exc),
            hint=gettext("Fix the settings (manage.py check lists the problems)."),
        )
    delivery = SlackDelivery.objects.create(
        rule=rule,
        rule_name=rule.name,
        alert_id=TEST_STATUS,
        alert_status=TEST_STATUS,
        idempotency_key=f"{TEST_STATUS}:{uuid.uuid4().hex}",
        channel=channel,
        text=text,
        blocks=blocks or None,
        state=DeliveryState.SENDING,
        attempts=1,
        claimed_at=timezone.now(),
    )
    outcome = TestSendOutcome(sent=False, channel=channel, text=text, delivery=delivery)
    try:
        state = send_claimed(delivery, service)
    except SlackSendCancelled as exc:
        outcome.error = "cancelled"
        outcome.detail = gettext("A pre_send receiver cancelled it: %(reason)s") % {"reason": exc}
        outcome.hint = gettext("A pre_send signal receiver in this site stopped the message.")
        return outcome
    except SlackDeliveryError as exc:
        if isinstance(exc, SlackRateLimitedError) and exc.retry_after:
            pacing.pause(channel, exc.retry_after, pace)
        settle(delivery, state=DeliveryState.FAILED, **failure_fields(exc))
        outcome.error, outcome.detail, outcome.status_code = exc.error, str(exc), exc.status_code
        outcome.reason = exc.reason
        outcome.hint = hint_for(exc.error, exc.status_code, exc.reason)
        return outcome
    if state == str(DeliveryState.FAILED):  # a broken backend or receiver: shown, never a 500
        outcome.error, outcome.detail = "unexpected_error", delivery.last_error
        outcome.hint = gettext("See the server log for the traceback.")
    else:
        outcome.sent, outcome.status_code = True, delivery.http_status
    return outcome
