"""How every log line about one delivery starts, written once here:
``Rule 'db down', alert 42 (fingerprint=9f2c…) to #alerts: …``. The fingerprint is in every
line about an alert (docs/operations.md); never a URL or a token.

:func:`about` gives a log call's arguments, so the line is still formatted only when it is
logged, and the logger (and the line of code) is the caller's::

    logger.info(*about(delivery, "already %s; not sent again", delivery.state))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import SlackDelivery

#: The alert a line is about, then (in :func:`about`) the delivery's channel.
ALERT = "Rule %r, alert %s (fingerprint=%s)"


def about(delivery: SlackDelivery, message: str, *args: object) -> tuple[object, ...]:
    """The arguments of a log call for ``message % args`` about ``delivery`` to its
    channel: "Rule 'db down', alert 42 (fingerprint=9f2c…) to #alerts: " and the message."""
    return (ALERT + " to %s: " + message, *_alert_args(delivery), delivery.channel, *args)


def about_alert(delivery: SlackDelivery, message: str, *args: object) -> tuple[object, ...]:
    """The same, without the channel: for a line that names it in ``message`` ("Rule 'db
    down', alert 42 (fingerprint=9f2c…): sent to #alerts")."""
    return (ALERT + ": " + message, *_alert_args(delivery), *args)


def _alert_args(delivery: SlackDelivery) -> tuple[str, str, str]:
    return (delivery.rule_name, delivery.alert_id, delivery.fingerprint)
