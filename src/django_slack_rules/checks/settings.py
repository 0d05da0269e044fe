"""The settings checks: ``SLACK_RULES`` and ``SLACK_INTERNAL_ENDPOINT``, all run by
:func:`check_settings`. The plain values are checked here: the dict itself (E007, W002),
the numbers (E008), the default channel (E010), the gateway mode (E011); the rest in
``imports``, ``addresses``, ``pages`` and ``metrics``."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.utils.translation import gettext

from ..conf import DEFAULTS, GATEWAY_MODES, slack_rules_settings
from ..rendering.templates import SLACK_MAX_MESSAGE_LENGTH
from ..validators import is_valid_channel
from .addresses import check_endpoint, check_site_url
from .common import AppConfigs, check_message
from .imports import check_imports
from .metrics import check_metrics
from .pages import check_pages


def check_settings(app_configs: AppConfigs = None, **kwargs: object) -> list[checks.CheckMessage]:
    """The checks of the settings that need no database: the dict, what it names, the
    addresses, the numbers, the channel, the pages, the gateway mode, the site and metrics."""
    raw = getattr(settings, "SLACK_RULES", None)
    if raw is not None and not isinstance(raw, dict):
        return [
            check_message(
                "E007",
                gettext("SLACK_RULES must be a dict, not %(type)s.") % {"type": type(raw).__name__},
                gettext(
                    'Set SLACK_RULES = {"SIGNAL": "...", "ALERT_MODEL": "...", ...} '
                    "(see docs/settings.md)."
                ),
            )
        ]
    messages: list[checks.CheckMessage] = []
    unknown = sorted(set(raw or {}) - set(DEFAULTS))
    if unknown:
        messages.append(
            check_message(
                "W002",
                gettext("SLACK_RULES has unknown key(s): %(keys)s.") % {"keys": ", ".join(unknown)},
                gettext("Known keys: %(keys)s. Check the spelling.")
                % {"keys": ", ".join(DEFAULTS)},
            )
        )
    slack_rules_settings.reload()
    messages += check_imports() + check_endpoint() + _check_numbers() + _check_channel()
    messages += check_pages() + _check_gateway_mode() + check_site_url() + check_metrics()
    return messages


_NUMBERS: dict[str, tuple[float, float | None, bool]] = {
    # key: (minimum, maximum, integer)
    "MAX_ATTEMPTS": (1, None, True),
    "RETRY_BACKOFF_BASE": (0.001, None, False),
    "RETRY_BACKOFF_MAX": (1, None, False),
    "CONNECT_TIMEOUT": (0.001, None, False),
    "READ_TIMEOUT": (0.001, None, False),
    "MESSAGE_MAX_LENGTH": (100, SLACK_MAX_MESSAGE_LENGTH, True),
    "THREAD_WAIT": (0, None, False),
    "EDIT_WINDOW": (1, None, False),
    "CHANNEL_RATE": (0.001, None, False),
    "CHANNEL_BURST": (1, None, True),
    "DIGEST_AFTER": (1, None, True),
    "RECOVERY_AFTER": (1, None, False),
}
#: Numeric settings that may also be None.
_NULLABLE = frozenset({"EDIT_WINDOW", "CHANNEL_RATE", "DIGEST_AFTER"})


def _check_numbers() -> list[checks.CheckMessage]:
    messages = []
    for key, (low, high, integer) in _NUMBERS.items():
        value = slack_rules_settings.get(key)
        if value is None and key in _NULLABLE:
            continue
        kind = int if integer else (int, float)
        ok = isinstance(value, kind) and not isinstance(value, bool)
        ok = ok and value >= low and (high is None or value <= high)
        if not ok:
            if high is None:
                bounds = gettext("at least %(low)s") % {"low": f"{low:g}"}
            else:
                bounds = gettext("at least %(low)s and at most %(high)s") % {
                    "low": f"{low:g}",
                    "high": f"{high:,}",
                }
            messages.append(
                check_message(
                    "E008",
                    gettext(
                        'SLACK_RULES["%(key)s"] = %(value)r is not valid: it must be %(kind)s '
                        "%(bounds)s."
                    )
                    % {
                        "key": key,
                        "value": value,
                        "kind": gettext("an integer") if integer else gettext("a number"),
                        "bounds": bounds,
                    },
                    gettext("Remove the key to use the default (%(default)r).")
                    % {"default": DEFAULTS[key]},
                )
            )
    return messages


def _check_channel() -> list[checks.CheckMessage]:
    channel = slack_rules_settings.DEFAULT_CHANNEL
    if not isinstance(channel, str) or not is_valid_channel(channel):
        return [
            check_message(
                "E010",
                gettext('SLACK_RULES["DEFAULT_CHANNEL"] = %(value)r is not a Slack channel.')
                % {"value": channel},
                gettext("Use '#name' or a channel id such as 'C0123ABCDEF'."),
            )
        ]
    return []


def _check_gateway_mode() -> list[checks.CheckMessage]:
    if slack_rules_settings.GATEWAY_MODE in GATEWAY_MODES:
        return []
    return [
        check_message(
            "E011",
            gettext('SLACK_RULES["GATEWAY_MODE"] = %(value)r is not a gateway mode.')
            % {"value": slack_rules_settings.get("GATEWAY_MODE")},
            gettext(
                'Use "webhook" (incoming webhooks, the default) or "bot" (a bot token: thread '
                "replies and updates), the mode the nginx gateway was rendered for "
                "(docs/gateway.md)."
            ),
        )
    ]
