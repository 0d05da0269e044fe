"""The receiver of the host's "alert processed" signal: decide, match, dispatch on commit.

It never raises into the host's alert processing: every failure is logged with
the alert's fingerprint instead.
"""

from __future__ import annotations

import contextlib
import logging
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from .adapters import BaseAlertAdapter, get_adapter
from .conf import slack_rules_settings
from .exceptions import SlackRulesConfigurationError
from .models import STATUS_FIRING, STATUS_RESOLVED, SlackIntegrationRule
from .services.recording import record_delivery
from .services.slack_matcher import SlackRuleMatcherService
from .tasks import enqueue, process_slack_for_alert_group

logger = logging.getLogger(__name__)

DISPATCH_UID = "django_slack_rules.handlers.alert_processed"

# The signal this process is connected to (so a settings change can move it).
_connected: dict[str, Signal | None] = {"signal": None}


def alert_processed_receiver(
    sender: Any,
    alert_group: Any = None,
    instance: Any = None,
    status: str | None = None,
    **kwargs: Any,
) -> None:
    """Receive ``alert_processed.send(sender, alert_group=…, instance=…, status=…)``."""
    fingerprint = getattr(alert_group, "fingerprint", "?")
    try:
        handle_alert(alert_group, instance=instance, status=status)
    except Exception:
        logger.exception(
            "Slack rules could not handle alert %s (fingerprint=%s); the alert was processed, "
            "no Slack message was queued",
            getattr(alert_group, "pk", None),
            fingerprint,
        )


def handle_alert(
    alert_group: Any, *, instance: Any = None, status: str | None = None
) -> list[SlackIntegrationRule]:
    """Match ``alert_group`` and queue one notification per rule that gets it, after commit.

    Returns the rules whose notification was queued (none, one, or several when rules
    have ``continue_matching``).
    """
    if alert_group is None:
        logger.warning("alert_processed was sent without alert_group; ignored")
        return []
    adapter = get_adapter()
    fingerprint = adapter.get_fingerprint(alert_group)
    status = str(status or adapter.get_status(alert_group)).lower()
    if status not in (STATUS_FIRING, STATUS_RESOLVED):
        logger.warning("Alert fingerprint=%s has unknown status %r; ignored", fingerprint, status)
        return []
    if adapter.is_silenced(alert_group):
        logger.debug("Alert fingerprint=%s is silenced; nothing sent", fingerprint)
        return []

    rules, version = SlackRuleMatcherService().match(adapter.get_labels(alert_group))
    if not rules:
        logger.debug("No Slack rule matches alert fingerprint=%s", fingerprint)
        return []

    # Only JSON-safe values cross the queue (a UUID primary key travels as a string).
    alert_id = alert_group.pk if isinstance(alert_group.pk, int) else str(alert_group.pk)
    occurrence = adapter.get_occurrence_key(alert_group, instance)
    queued = []
    for rule in rules:
        if not rule.sends_on(status):
            logger.debug(
                "Rule %r has no %s template; nothing sent for fingerprint=%s",
                rule.name,
                status,
                fingerprint,
            )
            continue
        # One task per rule: each notification is recorded and sent once on its own.
        transaction.on_commit(
            partial(dispatch, adapter, alert_group, rule, alert_id, status, occurrence, version)
        )
        queued.append(rule)
        logger.debug("Rule %r matched fingerprint=%s; queued on commit", rule.name, fingerprint)
    return queued


def dispatch(
    adapter: BaseAlertAdapter,
    alert_group: Any,
    rule: SlackIntegrationRule,
    alert_id: Any,
    status: str,
    occurrence: str,
    version: str | None = None,
) -> None:
    """Queue ``rule``'s notification (run at commit); a refused one is kept as pending.

    ``version``: the rule set's version the rule matched at, so that a worker whose index
    is at that version takes the rule from it without a query."""
    try:
        enqueue(
            process_slack_for_alert_group,
            alert_id,
            rule.pk,
            status=status,
            occurrence=occurrence,
            version=version,
        )
    except Exception as exc:
        logger.exception(
            "Could not queue the Slack notification of rule %r for alert %s (fingerprint=%s): "
            "is the Celery broker reachable? It is recorded as a pending delivery; "
            "`manage.py slack_rules_requeue` queues it once the broker is back.",
            rule.name,
            alert_id,
            adapter.get_fingerprint(alert_group),
        )
        keep_unqueued(adapter, alert_group, rule, status, occurrence, exc)


def keep_unqueued(
    adapter: BaseAlertAdapter,
    alert_group: Any,
    rule: SlackIntegrationRule,
    status: str,
    occurrence: str,
    exc: Exception,
) -> None:
    """Record a notification the broker refused, so that nothing is lost.

    The delivery stays pending until ``manage.py slack_rules_requeue`` queues it.
    """
    try:
        record_delivery(
            adapter,
            alert_group,
            rule,
            status,
            occurrence,
            last_error=f"Not queued: the Celery broker refused it ({type(exc).__name__}: {exc}). "
            "Run `manage.py slack_rules_requeue` once the broker is reachable.",
        )
    except Exception:
        logger.exception(
            "Could not record the unqueued Slack notification of rule %r (fingerprint=%s) either",
            rule.name,
            adapter.get_fingerprint(alert_group),
        )


def connect_signal() -> Signal | None:
    """Connect the receiver to SLACK_RULES["SIGNAL"] (and only to it); return the signal.

    Called by ``AppConfig.ready()``, and again when a test changes ``SLACK_RULES``.
    """
    previous = _connected["signal"]
    if previous is not None:
        previous.disconnect(dispatch_uid=DISPATCH_UID)
        _connected["signal"] = None
    signal = slack_rules_settings.get_signal()
    if signal is not None:
        signal.connect(alert_processed_receiver, dispatch_uid=DISPATCH_UID, weak=False)
    _connected["signal"] = signal
    return signal


def reconnect_on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver (connected in ``AppConfig.ready()``): follow SLACK_RULES."""
    if setting == "SLACK_RULES":
        # A bad path is reported by the system checks; the receiver stays disconnected.
        with contextlib.suppress(SlackRulesConfigurationError):
            connect_signal()
