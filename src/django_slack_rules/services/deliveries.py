"""Working with delivery records from the admin and the web UI: resend, test send, hints."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..exceptions import SlackDeliveryError, SlackRateLimitedError, SlackSendCancelled
from ..models import DeliveryState, DestinationPause, SlackDelivery, SlackIntegrationRule
from .slack_service import SlackService, prepare_message

logger = logging.getLogger(__name__)

#: ``SlackDelivery.alert_status`` of a message sent with "Test send" from the rule pages.
TEST_STATUS = "test"

#: States from which a delivery can be sent again.
RESENDABLE_STATES = (DeliveryState.FAILED, DeliveryState.CANCELLED)


def resend_deliveries(queryset: QuerySet[SlackDelivery]) -> int:
    """Put failed or cancelled deliveries back to pending and queue them after commit."""
    from ..tasks import enqueue, send_slack_delivery

    ids = list(queryset.filter(state__in=RESENDABLE_STATES).values_list("pk", flat=True))
    if not ids:
        return 0
    SlackDelivery.objects.filter(pk__in=ids).update(
        state=DeliveryState.PENDING, attempts=0, last_error="", slack_error="", http_status=None
    )

    def dispatch() -> None:
        for pk in ids:
            enqueue(send_slack_delivery, pk)

    transaction.on_commit(dispatch)
    return len(ids)


def with_last_delivery(
    queryset: QuerySet[SlackIntegrationRule],
) -> QuerySet[SlackIntegrationRule]:
    """Annotate each rule with its latest delivery: ``last_delivery_state``, ``…_at``, ``…_status``."""
    latest = SlackDelivery.objects.filter(rule=OuterRef("pk")).order_by("-created_at", "-pk")
    return queryset.annotate(
        last_delivery_state=Subquery(latest.values("state")[:1]),
        last_delivery_at=Subquery(latest.values("created_at")[:1]),
        last_delivery_status=Subquery(latest.values("alert_status")[:1]),
    )


_HINTS = {
    "channel_not_found": _(
        "Check the channel name, and that the Slack app is in that channel (/invite the app)."
    ),
    "not_in_channel": _("Invite the Slack app to the channel (/invite the app), then try again."),
    "is_archived": _("The channel is archived: unarchive it or choose another channel."),
    "channel_is_archived": _("The channel is archived: unarchive it or choose another channel."),
    "invalid_auth": _(
        "Slack refused the credentials: check the token or webhook URL that the "
        "proxy (nginx) holds."
    ),
    "invalid_token": _(
        "Slack refused the credentials: check the token or webhook URL that the "
        "proxy (nginx) holds."
    ),
    "token_revoked": _("The token was revoked: put a new one in the proxy's secret file."),
    "no_service": _(
        "The incoming webhook was removed or disabled: create a new one and put its "
        "URL in the proxy's secret file."
    ),
    "no_text": _("The message is empty: check the rule's template."),
    "invalid_payload": _("Slack could not read the message: check the rule's template."),
    "rate_limited": _(
        "Slack (or the gateway) is rate-limiting this channel: wait a minute and try again."
    ),
    "ratelimited": _("Slack is rate-limiting this channel: wait a minute and try again."),
    "connection_error": _(
        "The internal Slack endpoint did not answer: check "
        "SLACK_INTERNAL_ENDPOINT and that the proxy (nginx) is running."
    ),
    "timeout": _(
        "The internal Slack endpoint timed out: check that the proxy (nginx) is running "
        "and can reach Slack."
    ),
    # The nginx gateway's own refusals (deploy/nginx/, docs/gateway.md).
    "proxy_caller_not_allowed": _(
        "The gateway refused this server: add its address to the "
        "gateway's allow-list (render.py --allow) and reload nginx."
    ),
    "proxy_channel_not_routed": _(
        "The gateway has no webhook for this channel: add the channel "
        "to the map in the gateway's secrets file (or set a default webhook) and reload nginx."
    ),
    "proxy_unknown_path": _(
        "SLACK_INTERNAL_ENDPOINT does not point at the gateway's "
        "/slack-proxy/ location: fix the setting."
    ),
    "proxy_method_not_allowed": _(
        "The gateway takes POST only: check SLACK_INTERNAL_ENDPOINT and the backend setting."
    ),
    "proxy_body_too_large": _(
        "The message is larger than the gateway accepts: shorten the rule's "
        "template or lower MESSAGE_MAX_LENGTH."
    ),
    "proxy_rate_limited": _("The gateway is rate-limiting messages: wait a moment and try again."),
    "proxy_upstream_failed": _(
        "The gateway could not reach Slack or verify its certificate: see "
        "the gateway's access log and GET /slack-proxy/check."
    ),
    "proxy_upstream_timed_out": _("Slack did not answer the gateway in time: try again later."),
}


def hint_for(slack_error: str, status_code: int | None = None) -> str:
    """What an operator can do about a failed send, from Slack's error string or HTTP status."""
    if slack_error in _HINTS:
        return str(_HINTS[slack_error])
    if status_code == 403:
        return gettext("The proxy refused the request: is this server on the gateway's allow-list?")
    if status_code == 404:
        return gettext(
            "Nothing answers at SLACK_INTERNAL_ENDPOINT's path: check the proxy location."
        )
    if status_code is not None and status_code >= 500:
        return gettext("Slack or the proxy had a server error: try again later.")
    return gettext("See the delivery log and the proxy's error log for details.")


@dataclass
class TestSendOutcome:
    """What happened to a test send: sent, or why not (with a hint)."""

    sent: bool
    channel: str
    text: str
    delivery: SlackDelivery | None = None
    error: str = ""  # Slack's error string, e.g. "channel_not_found"
    detail: str = ""  # the full description (never the endpoint URL)
    status_code: int | None = None
    hint: str = ""


def send_test_message(rule: SlackIntegrationRule, channel: str, text: str) -> TestSendOutcome:
    """Send ``text`` to ``channel`` now, through the configured backend, without retrying.

    It is recorded as a delivery of ``rule`` with alert status "test", so it shows in the
    delivery log. Never raises for a failed send: the outcome says what Slack answered.
    """
    text = prepare_message(text)
    paused = DestinationPause.remaining(channel)
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
    now = timezone.now()
    delivery = SlackDelivery.objects.create(
        rule=rule,
        rule_name=rule.name,
        alert_id=TEST_STATUS,
        alert_status=TEST_STATUS,
        idempotency_key=f"{TEST_STATUS}:{uuid.uuid4().hex}",
        channel=channel,
        text=text,
        state=DeliveryState.SENDING,
        attempts=1,
        claimed_at=now,
    )
    outcome = TestSendOutcome(sent=False, channel=channel, text=text, delivery=delivery)
    try:
        result = service.send_notification(channel, text, delivery=delivery)
    except SlackSendCancelled as exc:
        _record(delivery, state=DeliveryState.CANCELLED, last_error=f"Cancelled by pre_send: {exc}")
        outcome.error = "cancelled"
        outcome.detail = gettext("A pre_send receiver cancelled it: %(reason)s") % {"reason": exc}
        outcome.hint = gettext("A pre_send signal receiver in this site stopped the message.")
        return outcome
    except SlackDeliveryError as exc:
        if isinstance(exc, SlackRateLimitedError) and exc.retry_after:
            DestinationPause.pause(channel, exc.retry_after)
        _record(delivery, state=DeliveryState.FAILED, **SlackDelivery.failure_fields(exc))
        outcome.error, outcome.detail, outcome.status_code = exc.error, str(exc), exc.status_code
        outcome.hint = hint_for(exc.error, exc.status_code)
        return outcome
    except Exception as exc:  # a broken backend or receiver: shown, logged, never a 500
        logger.exception("Rule %r: test send to %s failed unexpectedly", rule.name, channel)
        _record(delivery, state=DeliveryState.FAILED, last_error=f"{type(exc).__name__}: {exc}")
        outcome.error, outcome.detail = "unexpected_error", f"{type(exc).__name__}: {exc}"
        outcome.hint = gettext("See the server log for the traceback.")
        return outcome
    _record(delivery, **SlackDelivery.sent_fields(result))
    logger.info("Rule %r: test message sent to %s", rule.name, channel)
    outcome.sent, outcome.status_code = True, result.status_code
    return outcome


def _record(delivery: SlackDelivery, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(delivery, name, value)
    delivery.save(update_fields=[*fields, "updated_at"])
