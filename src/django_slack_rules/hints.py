"""What an operator can do about a failed send: a hint for each of Slack's (and the gateway's) errors."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

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
