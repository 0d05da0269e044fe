"""Exceptions.

Runtime errors share one root, :class:`SlackRulesError`. Configuration errors
subclass Django's ``ImproperlyConfigured`` and stay *outside* that root, so code
that catches delivery failures can never hide a misconfiguration.

::

    SlackRulesError
    ├── SlackDeliveryError            (channel, status_code, error, response_text, reason)
    │   ├── SlackRetryableError       connection errors, timeouts, 5xx: try again later
    │   │   └── SlackRateLimitedError 429: try again after ``retry_after`` seconds
    │   └── SlackPermanentError       other 4xx, Slack error strings: never retried
    ├── SlackSendCancelled            a pre_send receiver cancelled the message
    └── SlackActionRefused            the host will not do an action from Slack (says why)
    SlackRulesConfigurationError(ImproperlyConfigured)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: Why a send failed, by hop (``SlackDeliveryError.reason``, recorded on the delivery as
#: ``failure_reason`` and counted by the metrics):
#: the gateway could not be reached, did not answer in time, or refused the request itself;
#: Slack rate-limited it, was unavailable (5xx), or refused the message; or something else.
REASON_GATEWAY_UNREACHABLE = "gateway_unreachable"
REASON_TIMEOUT = "timeout"
REASON_GATEWAY_REFUSED = "gateway_refused"
REASON_RATE_LIMITED = "rate_limited"
REASON_SLACK_UNAVAILABLE = "slack_unavailable"
REASON_SLACK_ERROR = "slack_error"
REASON_OTHER = "other"
FAILURE_REASONS = (
    REASON_GATEWAY_UNREACHABLE,
    REASON_TIMEOUT,
    REASON_GATEWAY_REFUSED,
    REASON_RATE_LIMITED,
    REASON_SLACK_UNAVAILABLE,
    REASON_SLACK_ERROR,
    REASON_OTHER,
)


class SlackRulesError(Exception):
    """Root of every runtime error raised by django-slack-rules."""


class SlackDeliveryError(SlackRulesError):
    """Slack (or the internal proxy) did not take a message."""

    retryable = False
    #: Which hop failed (one of ``FAILURE_REASONS``); an instance may say more precisely.
    reason = REASON_SLACK_ERROR

    def __init__(
        self,
        message: str,
        *,
        channel: str = "",
        status_code: int | None = None,
        error: str = "",
        response_text: str = "",
        rule: object = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.message = message
        self.channel = channel
        self.status_code = status_code
        self.error = error
        self.response_text = response_text
        self.rule = rule

    def __str__(self) -> str:
        parts = [self.message]
        if self.channel:
            parts.append(f"channel={self.channel}")
        if self.status_code is not None:
            parts.append(f"http_status={self.status_code}")
        if self.error:
            parts.append(f"error={self.error}")
        return " ".join(parts)


class DeliveryErrorFields(TypedDict, total=False):
    """The keyword arguments of :class:`SlackDeliveryError` after its message."""

    channel: str
    status_code: int | None
    error: str
    response_text: str
    rule: object
    reason: str | None


class SlackRetryableError(SlackDeliveryError):
    """A failure that can succeed later: connection error, timeout, 5xx."""

    retryable = True
    reason = REASON_SLACK_UNAVAILABLE


class SlackRateLimitedError(SlackRetryableError):
    """HTTP 429, or Slack's ``ratelimited`` error. ``retry_after`` is Slack's Retry-After in
    seconds, or None (nginx's own 429)."""

    reason = REASON_RATE_LIMITED

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        **kwargs: Unpack[DeliveryErrorFields],
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class SlackPermanentError(SlackDeliveryError):
    """A failure that will not succeed by retrying: other 4xx, Slack error strings."""


class SlackSendCancelled(SlackRulesError):
    """Raised by a ``pre_send`` receiver to cancel one message (it is recorded as cancelled)."""


class SlackActionRefused(SlackRulesError):
    """Raised by an adapter's ``acknowledge`` or ``silence`` to refuse the action: nothing
    was changed, and the message (shown to the Slack user who clicked) says why and, where
    it can, what to do instead."""


class SlackRulesConfigurationError(ImproperlyConfigured):
    """The package is misconfigured; the message names the setting and the fix."""
