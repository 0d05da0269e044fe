"""What an operator can do about a failed send: which hop failed, and a hint for each of
Slack's (and the gateway's) errors."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .exceptions import (
    REASON_GATEWAY_REFUSED,
    REASON_GATEWAY_UNREACHABLE,
    REASON_OTHER,
    REASON_RATE_LIMITED,
    REASON_SLACK_ERROR,
    REASON_SLACK_UNAVAILABLE,
    REASON_TIMEOUT,
)

#: Which hop failed, as the delivery log and the test send say it (by ``failure_reason``).
HOPS = {
    REASON_GATEWAY_UNREACHABLE: _("gateway unreachable"),
    REASON_TIMEOUT: _("gateway timed out"),
    REASON_GATEWAY_REFUSED: _("gateway refused"),
    REASON_RATE_LIMITED: _("rate-limited"),
    REASON_SLACK_UNAVAILABLE: _("Slack unavailable"),
    REASON_SLACK_ERROR: _("Slack refused"),
    REASON_OTHER: _("not sent"),
}


def hop_for(reason: str) -> str:
    """Which hop failed, in words ("gateway refused"); "" for no reason or an unknown one."""
    return str(HOPS[reason]) if reason in HOPS else ""


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
    "invalid_blocks": _(
        "Slack refused the blocks: check the rule's Block Kit template in its preview "
        "(the delivery's note keeps Slack's explanation)."
    ),
    "rate_limited": _(
        "Slack (or the gateway) is rate-limiting this channel: wait a minute and try again."
    ),
    "ratelimited": _("Slack is rate-limiting this channel: wait a minute and try again."),
    "connection_error": _(
        "Nothing answered at SLACK_INTERNAL_ENDPOINT, so nothing reached Slack: check the "
        "setting, that the gateway (nginx) is running, and that this server may connect to it."
    ),
    "request_error": _(
        "The request to the gateway (nginx) failed, so nothing reached Slack: check "
        "SLACK_INTERNAL_ENDPOINT and the gateway."
    ),
    "timeout": _(
        "The gateway (nginx) did not answer in time: check that it is running and can reach "
        "Slack (GET /slack-proxy/check). Slack may have the message already."
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


def hint_for(slack_error: str, status_code: int | None = None, reason: str = "") -> str:
    """What an operator can do about a failed send, from Slack's (or the gateway's) error
    string, the HTTP status and which hop failed (``reason``, ``exceptions.FAILURE_REASONS``)."""
    if slack_error in _HINTS:
        return str(_HINTS[slack_error])
    if reason == REASON_GATEWAY_REFUSED or (not reason and status_code in (403, 404)):
        if status_code == 403:
            return gettext(
                "The gateway (nginx) refused this server: add it to the gateway's allow-list."
            )
        return gettext(
            "The gateway answered, not Slack: SLACK_INTERNAL_ENDPOINT must be the gateway's "
            "/slack-proxy/ location (and GATEWAY_MODE the gateway's mode)."
        )
    if reason == REASON_GATEWAY_UNREACHABLE:
        return str(_HINTS["connection_error"])
    if reason == REASON_TIMEOUT:
        return str(_HINTS["timeout"])
    if status_code is not None and status_code >= 500:
        return gettext(
            "Slack, or the gateway's way to it, failed: it is retried. The gateway's access "
            "log and GET /slack-proxy/check say which."
        )
    return gettext("See the delivery's error above, and the gateway's logs.")
