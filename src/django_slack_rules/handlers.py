"""The receiver of the host's "alert processed" signal: record the notifications, queue them.

It never raises into the host's alert processing, and never breaks the host's transaction:
everything it writes is in a savepoint (:mod:`.services.outbox`), and every failure is
logged with the alert's fingerprint instead.
"""

from __future__ import annotations

import contextlib
import logging
from functools import partial

from django.db import transaction
from django.dispatch import Signal

from .adapters import alert_id
from .conf import slack_rules_settings
from .exceptions import SlackRulesConfigurationError
from .models import SlackIntegrationRule
from .services import outbox
from .tasks import queue_deliveries
from .typing import HostAlert

logger = logging.getLogger(__name__)

DISPATCH_UID = "django_slack_rules.handlers.alert_processed"


def alert_processed_receiver(
    sender: object,
    alert_group: HostAlert | None = None,
    instance: object = None,
    status: str | None = None,
    **kwargs: object,
) -> None:
    """Receive ``alert_processed.send(sender, alert_group=…, instance=…, status=…)``."""
    try:
        handle_alert(alert_group, instance=instance, status=status)
    except Exception:
        logger.exception(
            "Slack rules could not handle alert %s (fingerprint=%s); the alert was processed, "
            "no Slack message was recorded",
            getattr(alert_group, "pk", None),
            getattr(alert_group, "fingerprint", "?"),
        )


def handle_alert(
    alert_group: HostAlert | None, *, instance: object = None, status: str | None = None
) -> list[SlackIntegrationRule]:
    """Record one notification per rule that gets ``alert_group``, and queue them on commit.

    Returns the rules whose notification was recorded (none, one, or several when rules
    have ``continue_matching``). Raises what the outbox raised, after its savepoint rolled
    back: the host's transaction goes on.
    """
    if alert_group is None:
        logger.warning("alert_processed was sent without alert_group; ignored")
        return []
    deliveries = outbox.record_alert(alert_group, instance, status)
    if not deliveries:
        return []
    transaction.on_commit(partial(queue_deliveries, alert_id(alert_group), deliveries))
    logger.debug(
        "Alert fingerprint=%s: %d Slack notification(s) recorded, queued on commit",
        deliveries[0].fingerprint,
        len(deliveries),
    )
    return [delivery.rule for delivery in deliveries if delivery.rule is not None]


class _Connection:
    """The signal this process's receiver is connected to (so a settings change moves it)."""

    signal: Signal | None = None


def connect_signal() -> Signal | None:
    """Connect the receiver to SLACK_RULES["SIGNAL"] (and only to it); return the signal.

    Called by ``AppConfig.ready()``, and again when a test changes ``SLACK_RULES``.
    """
    if _Connection.signal is not None:
        _Connection.signal.disconnect(dispatch_uid=DISPATCH_UID)
        _Connection.signal = None
    signal = slack_rules_settings.get_signal()
    if signal is not None:
        signal.connect(alert_processed_receiver, dispatch_uid=DISPATCH_UID, weak=False)
    _Connection.signal = signal
    return signal


def reconnect_on_setting_changed(*, setting: str, **kwargs: object) -> None:
    """``setting_changed`` receiver (connected in ``AppConfig.ready()``): follow SLACK_RULES."""
    if setting == "SLACK_RULES":
        # A bad path is reported by the system checks; the receiver stays disconnected.
        with contextlib.suppress(SlackRulesConfigurationError):
            connect_signal()
