"""The baseline of the delivery benchmarks: SentryHub's own Slack integration (receiver,
matcher, task, service) at ``SENTRYHUB_COMMIT``, written for the benchmark from its behaviour
(bench/README.md says what each part does), on the test host's models. Left out: the RabbitMQ
delivery method, and the Jira and SMS receivers SentryHub also connects."""

# SentryHub formats its log messages with f-strings, so their cost is paid before the level
# check, and logs errors with logger.error(..., exc_info=True); this baseline does the same.
# ruff: noqa: G004, G201

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from functools import partial
from typing import Any

import requests
from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from sentryhub_message import (
    mask_ip_addresses,
    normalize_channel,
    render_template_safe,
    resolve_channel,
    template_context,
)

SENTRYHUB_COMMIT = "090d8a59633c283ef7e2ac4dbeaad291ee22fda0"
SENTRYHUB_REPOSITORY = "ghanad/sentryHub"
TASK_NAME = "sentryhub_baseline.process_slack_for_alert_group"
SEND_ATTEMPTS = 3
SEND_TIMEOUT = 10  # seconds, for connecting and for the answer
LAST_CALL = "sentryhub_component_last_successful_api_call_timestamp"

#: SentryHub's ``alerts.signals.alert_processed`` with only its Slack receiver.
alert_processed = Signal()
logger = logging.getLogger(__name__)


class SlackNotificationError(Exception):
    """The message could not be posted after every attempt (network or HTTP error)."""


class Metrics:
    """In-process counters and gauges, as SentryHub keeps them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: defaultdict[str, dict[str, float]] = defaultdict(dict)

    def inc(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.set(name, None, labels)

    def set(self, name: str, value: float | None, labels: dict[str, str] | None = None) -> None:
        with self.lock:
            key = ",".join(f'{k}="{v}"' for k, v in sorted((labels or {}).items()))
            if value is None:
                self.values[name][key] = self.values[name].get(key, 0) + 1
                logger.debug(f"Incremented counter {name}{{{key}}} by 1")
            else:
                self.values[name][key] = value
                logger.debug(f"Set gauge {name}{{{key}}} to {value}")


metrics = Metrics()


def handle_alert_processed(sender: Any, **kwargs: Any) -> None:
    """Queue the best rule's task on commit, for a firing or resolved, unsilenced alert."""
    alert_group, status = kwargs.get("alert_group"), kwargs.get("status")
    if not alert_group:
        logger.warning("Slack receiver: alert_processed without alert_group; nothing to do.")
        return
    fp = alert_group.fingerprint
    logger.info(f"Slack receiver (FP: {fp}): alert_processed received, status {status}")
    if alert_group.is_silenced:
        logger.info(f"Slack receiver (FP: {fp}): the alert is silenced; skipped.")
        return
    if status not in ("firing", "resolved"):
        logger.info(f"Slack receiver (FP: {fp}): status {status!r} is not sent; skipped.")
        return
    rule = find_matching_rule(alert_group)
    if rule is None or not rule.is_active:
        logger.info(f"Slack receiver (FP: {fp}): no active Slack rule matches.")
        return
    logger.info(f"Slack receiver (FP: {fp}): rule {rule.name!r} matches; queueing.")
    task = process_slack_for_alert_group.delay
    try:
        transaction.on_commit(
            partial(task, alert_group_id=alert_group.id, rule_id=rule.id, alert_status=status)
        )
    except Exception as exc:
        logger.error(f"Slack receiver (FP: {fp}): could not queue the task: {exc}", exc_info=True)


alert_processed.connect(handle_alert_processed, dispatch_uid="sentryhub_baseline.slack")


def find_matching_rule(alert_group: Any) -> Any:
    """The best active rule: most criteria first, then highest priority, then name."""
    from tests.legacy_integrations.models import SlackIntegrationRule

    fp = alert_group.fingerprint
    logger.debug(f"(FP: {fp}) Matching Slack rules.")
    candidates = []
    for rule in SlackIntegrationRule.objects.filter(is_active=True):
        if rule_matches(rule, alert_group):
            candidates.append(rule)
            logger.info(f"(FP: {fp}) Rule {rule.name!r} (ID {rule.id}) matches.")
    if not candidates:
        logger.info(f"(FP: {fp}) No active Slack rule matches.")
        return None
    candidates.sort(key=lambda r: (-len(r.match_criteria or {}), -r.priority, r.name))
    logger.info(f"(FP: {fp}) Best rule: {candidates[0].name!r} (ID {candidates[0].id}).")
    return candidates[0]


def rule_matches(rule: Any, alert_group: Any) -> bool:
    """Every criterion holds. ``labels__<name>`` compares a label as text; another key names
    an attribute of the alert group, compared as text, or tested with ``<field>__isnull``."""
    criteria, fp = rule.match_criteria or {}, alert_group.fingerprint
    if not isinstance(criteria, dict):
        logger.warning(f"(FP: {fp}) Rule {rule.name!r}: criteria are not a dict.")
        return False
    if not criteria:
        return True  # no criteria: the rule matches every alert
    for key, expected in criteria.items():
        field, _, lookup = key.partition("__")
        if field == "labels":
            actual = alert_group.labels.get(lookup)
            holds = str(actual) == str(expected)
        elif not hasattr(alert_group, field):
            actual, holds = None, False
        else:
            actual = getattr(alert_group, field)
            holds = (
                (actual in (None, "")) == expected
                if lookup == "isnull"
                else str(actual) == str(expected)
            )
        if not holds:
            logger.debug(f"(FP: {fp}) Rule {rule.name!r}: {key} is {actual!r}, not {expected!r}.")
            return False
    logger.debug(f"(FP: {fp}) Rule {rule.name!r}: every criterion holds.")
    return True


@shared_task(bind=True, name=TASK_NAME)
def process_slack_for_alert_group(
    self: Any, alert_group_id: int, rule_id: int, alert_status: str | None = None
) -> None:
    """Render the rule's message for the alert group, mask IP addresses, post it (three
    attempts in the task, then Celery's retry); record nothing."""
    from tests.alerts.models import AlertGroup
    from tests.legacy_integrations.models import SlackIntegrationRule

    task = f"Slack task {self.request.id}"
    try:
        alert_group = AlertGroup.objects.get(pk=alert_group_id)
        rule = SlackIntegrationRule.objects.get(pk=rule_id)
    except (AlertGroup.DoesNotExist, SlackIntegrationRule.DoesNotExist) as exc:
        logger.error(f"{task}: alert group {alert_group_id}, rule {rule_id}: {exc}; stopped.")
        return
    fp = alert_group.fingerprint
    logger.info(f"{task} (FP: {fp}): alert group {alert_group_id}, rule {rule_id}")
    context = template_context(alert_group)
    status = alert_status or getattr(alert_group, "current_status", None)
    resolved = status == "resolved" and getattr(rule, "resolved_message_template", "")
    template = rule.resolved_message_template if resolved else rule.message_template
    message = mask_ip_addresses(render_template_safe(template or "", context))
    logger.debug(f"{task} (FP: {fp}): message {message}")
    if not message:
        logger.info(f"{task} (FP: {fp}): empty message for status {status}; nothing sent.")
        return
    channel, source = resolve_channel(alert_group, rule)
    logger.info(f"{task} (FP: {fp}): channel {channel!r} (from {source})")
    try:
        send_notification(channel, message, fingerprint=fp)
    except SlackNotificationError as exc:
        metrics.inc("sentryhub_slack_notifications_total", {"status": "retry"})
        logger.warning(f"{task} (FP: {fp}): network error, Celery retries: {exc}")
        raise self.retry(exc=exc) from exc
    logger.info(f"{task} (FP: {fp}): sent to {channel}.")


def send_notification(channel: str, message: str, fingerprint: str = "N/A") -> bool:
    """POST ``{"channel", "text"}`` to SLACK_INTERNAL_ENDPOINT with a new connection: True
    when the answer is ``ok``; False (logged) for another answer or an unexpected error;
    SlackNotificationError after 3 failed attempts, 1 s and 2 s apart."""
    endpoint, fp = getattr(settings, "SLACK_INTERNAL_ENDPOINT", ""), fingerprint
    total = "sentryhub_slack_notifications_total"
    if not endpoint:
        logger.error(f"Slack (FP: {fp}): SLACK_INTERNAL_ENDPOINT is not set.")
        metrics.inc("sentryhub_component_initialization_errors_total", {"component": "slack"})
        return False
    channel = normalize_channel(channel)
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            response = requests.post(
                endpoint, json={"channel": channel, "text": message}, timeout=SEND_TIMEOUT
            )
            response.raise_for_status()
            if response.text.strip().lower() != "ok":
                logger.error(
                    f"Slack (FP: {fp}): unexpected answer for {channel!r} "
                    f"(status={response.status_code}, body={response.text!r})"
                )
                metrics.inc(total, {"status": "failure", "reason": "bad_response"})
                return False
            shown = message[:200] + ("…" if len(message) > 200 else "")
            logger.info("Message posted to Slack channel %r: %r", channel, shown)
            metrics.inc(total, {"status": "success"})
            metrics.set(LAST_CALL, time.time(), {"component": "slack"})
            return True
        except requests.RequestException as exc:
            pause = 2 ** (attempt - 1)
            logger.warning(
                f"Slack (FP: {fp}): attempt {attempt}/{SEND_ATTEMPTS} for {channel!r} failed: "
                f"{exc}; next in {pause}s"
            )
            if attempt == SEND_ATTEMPTS:
                metrics.inc(total, {"status": "failure", "reason": "network_error"})
                raise SlackNotificationError("Network error sending to Slack") from exc
            time.sleep(pause)  # SentryHub waits in the task between attempts
        except Exception as exc:
            logger.error(
                f"Slack (FP: {fp}): unexpected error for {channel!r}: {exc}", exc_info=True
            )
            metrics.inc(total, {"status": "failure", "reason": "unexpected"})
            return False
    return False


@shared_task(name="sentryhub_baseline.post_once")
def post_once(alert_group_id: int, rule_id: int) -> str:
    """The naive sender of ``bench/storm.py``: the task above, first attempt only; what Slack
    refuses is dropped, as Alertmanager does (bench/README.md). "sent" or "dropped"."""
    from tests.alerts.models import AlertGroup
    from tests.legacy_integrations.models import SlackIntegrationRule

    alert_group = AlertGroup.objects.get(pk=alert_group_id)
    rule = SlackIntegrationRule.objects.get(pk=rule_id)
    context = template_context(alert_group)
    message = mask_ip_addresses(render_template_safe(rule.message_template, context))
    channel, fp = normalize_channel(resolve_channel(alert_group, rule)[0]), alert_group.fingerprint
    try:
        payload = {"channel": channel, "text": message}
        answer = requests.post(settings.SLACK_INTERNAL_ENDPOINT, json=payload, timeout=SEND_TIMEOUT)
        answer.raise_for_status()
    except requests.RequestException as exc:
        logger.error(f"Slack (FP: {fp}): not posted to {channel!r}, dropped: {exc}")
        return "dropped"
    logger.info(f"Slack (FP: {fp}): posted to {channel!r}")
    return "sent"
