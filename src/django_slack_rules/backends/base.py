"""The backend interface and the classification of Slack's answers."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from ..exceptions import (
    REASON_GATEWAY_REFUSED,
    SlackPermanentError,
    SlackRateLimitedError,
    SlackRetryableError,
)
from ..typing import JSONObject
from ..validators import CHANNEL_ID_RE

#: Slack Web API error strings that mean "rate-limited" even in a 200 answer: the
#: destination is paused as for a 429.
RATE_LIMITED_SLACK_ERRORS = frozenset({"ratelimited", "rate_limited"})
#: Slack Web API error strings that can succeed later (everything else is permanent).
RETRYABLE_SLACK_ERRORS = frozenset(
    {
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)

#: How the gateway's own error words start (deploy/nginx/), e.g. "proxy_rate_limited".
PROXY_ERROR_PREFIX = "proxy_"

#: An incoming webhook's bare error word ("channel_not_found"), or the gateway's ("proxy_…").
_SLACK_WORD = re.compile(r"^[a-z][a-z0-9_]{1,99}$")

#: How much of Slack's answer is kept on the delivery record.
RESPONSE_KEEP_CHARS = 2000


@dataclass
class SlackResult:
    """A message Slack accepted."""

    channel: str
    status_code: int | None = None
    response_text: str = ""
    ts: str = ""
    data: JSONObject = field(default_factory=dict)

    @property
    def channel_id(self) -> str:
        """The channel's id in Slack's answer (Web API: ``"channel": "C0…"``), else ""."""
        value = self.data.get("channel")
        return value if isinstance(value, str) and CHANNEL_ID_RE.match(value) else ""


class BaseBackend:
    """Sends one message. Subclasses implement :meth:`send`.

    ``send`` returns a :class:`SlackResult` when Slack took the message and raises
    a :class:`~django_slack_rules.exceptions.SlackDeliveryError` subclass otherwise.
    """

    def __init__(self, **options: object) -> None:
        self.options = options

    def send(self, channel: str, text: str, **extra: object) -> SlackResult:
        raise NotImplementedError

    def update(self, channel: str, ts: str, text: str, **extra: object) -> SlackResult:
        """Replace the message ``ts`` in ``channel`` (a channel id) with ``text`` (``chat.update``).

        ``extra["payload"]`` holds more fields (``blocks``). A backend that cannot update
        raises :class:`SlackPermanentError` with the error ``update_not_supported``; the
        package then posts a new message instead.
        """
        raise SlackPermanentError(
            f"{type(self).__name__} cannot update a Slack message",
            channel=channel,
            error="update_not_supported",
        )

    def post_ephemeral(self, channel: str, user: str, text: str) -> SlackResult:
        """Show ``text`` to ``user`` only, in ``channel`` (``chat.postEphemeral``; bot mode):
        the answer to a click that did nothing, saying why. A backend that cannot raises
        :class:`SlackPermanentError` with the error ``ephemeral_not_supported``."""
        raise SlackPermanentError(
            f"{type(self).__name__} cannot post an ephemeral message",
            channel=channel,
            error="ephemeral_not_supported",
        )

    def user_info(self, user: str) -> JSONObject:
        """Slack's ``user`` object for a user id (``users.info``; bot mode), with
        ``profile.email`` when the app has ``users:read.email``. A backend that cannot
        raises :class:`SlackPermanentError` with the error ``users_info_not_supported``."""
        raise SlackPermanentError(
            f"{type(self).__name__} cannot look a Slack user up",
            error="users_info_not_supported",
        )


class _Answer(TypedDict, total=False):
    """What every error :func:`classify_response` raises says of the answer."""

    channel: str
    status_code: int
    response_text: str
    reason: str


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (Slack sends an integer); None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)


def classify_response(
    channel: str, status_code: int, headers: Mapping[str, str], body: str
) -> SlackResult:
    """Turn Slack's (or the proxy's) HTTP answer into a result or a typed error.

    - 200 ``ok`` (incoming webhook) or JSON ``{"ok": true}`` (Web API): sent.
    - 429: :class:`SlackRateLimitedError` with ``retry_after`` (None for nginx's own 429).
    - The gateway's own refusals carry an error word starting ``proxy_`` (e.g.
      ``proxy_caller_not_allowed``); the message then names the gateway, not Slack.
    - 5xx: :class:`SlackRetryableError`.
    - other 4xx, or ``{"ok": false, "error": …}``: :class:`SlackPermanentError`, unless
      the error string is one Slack documents as transient.
    """
    text = body[:RESPONSE_KEEP_CHARS]
    common: _Answer = {
        "channel": channel,
        "status_code": status_code,
        "response_text": text,
    }
    data: JSONObject = {}
    stripped = body.strip()
    if stripped.startswith("{"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            data = parsed
    slack_error = str(data.get("error") or "") if data else ""
    # Slack explains some refusals (invalid_blocks) in response_metadata.messages.
    metadata = data.get("response_metadata") if data else None
    explained = metadata.get("messages") if isinstance(metadata, dict) else None
    details = "; ".join(str(m) for m in explained) if isinstance(explained, list) else ""
    if not data and _SLACK_WORD.match(stripped):
        # Incoming webhooks answer errors as a bare string: "channel_not_found".
        slack_error = "" if stripped == "ok" else stripped

    # Which hop answered. Slack answers JSON (Web API) or a bare word (incoming webhooks);
    # the gateway's own refusals (deploy/nginx/) are bare words starting "proxy_". Anything
    # else (nginx's HTML error page, an empty body, "Not Found") came from whatever answers at
    # SLACK_INTERNAL_ENDPOINT, never from Slack: a wrong path or a gateway without the location.
    from_slack = bool(data) or bool(slack_error and not slack_error.startswith(PROXY_ERROR_PREFIX))
    who = "Slack" if from_slack else "The Slack gateway"
    if not from_slack:
        common["reason"] = REASON_GATEWAY_REFUSED
    if status_code == 429:
        common.pop("reason", None)  # the gateway's own limit is a rate limit too
        retry_after = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
        raise SlackRateLimitedError(
            f"{who} rate-limited the message (HTTP 429)"
            + (f"; retry after {retry_after:g}s" if retry_after is not None else ""),
            retry_after=retry_after,
            error=slack_error or "rate_limited",
            **common,
        )
    if status_code >= 500:
        common.pop("reason", None)  # Slack, or the gateway's way to it, is unavailable
        if slack_error.startswith(PROXY_ERROR_PREFIX):
            message = f"The Slack gateway could not get an answer from Slack (HTTP {status_code}"
        elif from_slack:
            message = f"Slack failed (HTTP {status_code}"
        else:
            message = f"The Slack gateway failed, or could not reach Slack (HTTP {status_code}"
        message += f", {slack_error})" if slack_error else ")"
        raise SlackRetryableError(message, error=slack_error, **common)
    if status_code >= 400:
        if from_slack:
            message = f"Slack refused the message: {slack_error or 'no reason given'}"
        elif slack_error:
            message = f"The Slack gateway refused the message: {slack_error}"
        else:
            message = (
                "The Slack gateway refused the message without Slack's answer: check that "
                "SLACK_INTERNAL_ENDPOINT is the gateway's /slack-proxy/ location"
            )
        raise SlackPermanentError(
            f"{message} (HTTP {status_code}{': ' + details if details else ''})",
            error=slack_error,
            **common,
        )
    if 200 <= status_code < 300:
        if data:
            if data.get("ok") is True:
                return SlackResult(
                    channel, status_code, text, ts=str(data.get("ts") or ""), data=data
                )
            error = slack_error or "unknown_error"
            if error in RATE_LIMITED_SLACK_ERRORS:
                retry_after = parse_retry_after(
                    headers.get("Retry-After") or headers.get("retry-after")
                )
                raise SlackRateLimitedError(
                    f"Slack rate-limited the message: {error}",
                    retry_after=retry_after,
                    error=error,
                    **common,
                )
            error_class = (
                SlackRetryableError if error in RETRYABLE_SLACK_ERRORS else SlackPermanentError
            )
            raise error_class(
                f"Slack refused the message: {error}{' (' + details + ')' if details else ''}",
                error=error,
                **common,
            )
        if stripped == "ok":
            return SlackResult(channel, status_code, text)
        if from_slack:
            message = f"Slack refused the message: {slack_error}"
        else:
            common["reason"] = REASON_GATEWAY_REFUSED
            message = (
                "The Slack gateway answered HTTP 200 without Slack's answer: check that "
                "SLACK_INTERNAL_ENDPOINT is the gateway's /slack-proxy/ location"
            )
        raise SlackPermanentError(message, error=slack_error, **common)
    common["reason"] = REASON_GATEWAY_REFUSED
    raise SlackPermanentError(
        f"The Slack gateway answered HTTP {status_code} (a redirect?) instead of Slack's answer: "
        "set SLACK_INTERNAL_ENDPOINT to the gateway's location itself",
        **common,
    )
