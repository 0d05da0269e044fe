"""The baseline of ``bench/delivery.py --worker``: SentryHub's own Slack integration.

This module behaves like the Slack part of SentryHub's in-tree ``integrations`` app
(https://github.com/ghanad/sentryHub at commit ``SENTRYHUB_COMMIT`` below: the signal
receiver in ``integrations/handlers.py``, the matcher in
``integrations/services/slack_matcher.py``, the task ``process_slack_for_alert_group`` in
``integrations/tasks.py`` and ``integrations/services/slack_service.py``). It is written for
this benchmark from that behaviour; SentryHub's code stays in SentryHub. It runs on the test
host's models: ``alerts.AlertGroup`` / ``AlertInstance`` and the in-tree rule model
``integrations.SlackIntegrationRule`` (``tests/legacy_integrations``).

What it does, as SentryHub does:

* **receiver** (``handle_alert_processed``): nothing for a missing alert, a silenced one or a
  status other than firing/resolved; otherwise it loads every active rule (one query), keeps
  those whose criteria all match, ranks them by specificity (more criteria first), then
  priority (highest first), then name, and queues the task for the best one with
  ``transaction.on_commit(partial(task.delay, alert_group_id=…, rule_id=…, alert_status=…))``;
* **task**: loads the alert group and the rule by id, then the latest occurrence
  (``instances`` ordered by ``-started_at``): three queries. It renders the rule's template
  (the resolved one when the status is resolved and the rule has one) with
  ``django.template.Template`` on Django's default engine, against the model instances
  (``alert_group``, ``latest_instance``) and ``annotations``, ``summary``, ``description``,
  HTML autoescaping on, stripped; masks IP addresses (with an optional port) as ``IP``;
  resolves the channel (the rule's, else the alert's ``channel`` label, else
  ``SLACK_DEFAULT_CHANNEL`` or ``#general``) and sends it with one ``requests.post`` per
  message (a new connection each time, ``timeout=10``). It records nothing: no delivery
  row, no idempotency, no shared rate-limit pause. A network error or an HTTP error status is
  tried 3 times in the task (sleeping 1 s, then 2 s), then the task retries through Celery;
  an answer other than ``ok`` is logged and dropped;
* the task uses Celery's defaults otherwise: early ack, and its result is stored when the
  app has a result backend (SentryHub's settings configure Redis for it);
* it logs as SentryHub does, at INFO (several lines per alert, messages formatted before
  the level check), and counts in-process metrics.

Left out: SentryHub's RabbitMQ delivery method (``SLACK_DELIVERY_METHOD = "RABBITMQ"``) and
the Jira and SMS receivers that SentryHub also connects to ``alert_processed``.
"""

# SentryHub formats its log messages with f-strings, so their cost is paid before the level
# check, and logs errors with logger.error(..., exc_info=True); this baseline does the same.
# ruff: noqa: G004, G201

from __future__ import annotations

import ipaddress
import logging
import re
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
from django.template import Context, Template, TemplateSyntaxError

#: The SentryHub commit whose behaviour this module mirrors.
SENTRYHUB_COMMIT = "090d8a59633c283ef7e2ac4dbeaad291ee22fda0"
SENTRYHUB_REPOSITORY = "ghanad/sentryHub"
#: The Celery name of the baseline task.
TASK_NAME = "sentryhub_baseline.process_slack_for_alert_group"

#: Stands for SentryHub's ``alerts.signals.alert_processed`` with only its Slack receiver:
#: sent as ``alert_processed.send(sender=AlertGroup, alert_group=…, instance=…, status=…)``.
alert_processed = Signal()

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 3
SEND_TIMEOUT = 10  # seconds, for connecting and for the answer
DEFAULT_CHANNEL = "#general"


class SlackNotificationError(Exception):
    """The message could not be posted after every attempt (network or HTTP error)."""


# -- metrics: in-process counters and gauges, as SentryHub keeps them ------------------


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: defaultdict[str, defaultdict[str, float]] = defaultdict(
            lambda: defaultdict(float)
        )
        self.gauges: defaultdict[str, dict[str, float]] = defaultdict(dict)

    @staticmethod
    def key(labels: dict[str, str] | None) -> str:
        return ",".join(f'{name}="{value}"' for name, value in sorted((labels or {}).items()))

    def inc(self, name: str, labels: dict[str, str] | None = None) -> None:
        with self.lock:
            key = self.key(labels)
            self.counters[name][key] += 1
            logger.debug(f"Incremented counter {name}{{{key}}} by 1")

    def set(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        with self.lock:
            key = self.key(labels)
            self.gauges[name][key] = value
            logger.debug(f"Set gauge {name}{{{key}}} to {value}")


metrics = Metrics()


# -- the receiver and the matcher -------------------------------------------------------


def handle_alert_processed(sender: Any, **kwargs: Any) -> None:
    """Queue the best rule's task on commit, for a firing or resolved, unsilenced alert."""
    alert_group = kwargs.get("alert_group")
    status = kwargs.get("status")
    if not alert_group:
        logger.warning("Slack receiver: alert_processed without alert_group; nothing to do.")
        return
    fingerprint = alert_group.fingerprint
    logger.info(f"Slack receiver (FP: {fingerprint}): alert_processed received, status {status}")
    if alert_group.is_silenced:
        logger.info(f"Slack receiver (FP: {fingerprint}): the alert is silenced; skipped.")
        return
    if status not in ("firing", "resolved"):
        logger.info(f"Slack receiver (FP: {fingerprint}): status {status!r} is not sent; skipped.")
        return

    rule = find_matching_rule(alert_group)
    if rule is None or not rule.is_active:
        logger.info(f"Slack receiver (FP: {fingerprint}): no active Slack rule matches.")
        return
    logger.info(f"Slack receiver (FP: {fingerprint}): rule {rule.name!r} matches; queueing.")
    try:
        transaction.on_commit(
            partial(
                process_slack_for_alert_group.delay,
                alert_group_id=alert_group.id,
                rule_id=rule.id,
                alert_status=status,
            )
        )
    except Exception as exc:
        logger.error(
            f"Slack receiver (FP: {fingerprint}): could not queue the task for alert group "
            f"{alert_group.id}: {exc}",
            exc_info=True,
        )


alert_processed.connect(handle_alert_processed, dispatch_uid="sentryhub_baseline.slack")


def find_matching_rule(alert_group: Any) -> Any:
    """The best active rule: most criteria first, then highest priority, then name."""
    from tests.legacy_integrations.models import SlackIntegrationRule

    fingerprint = alert_group.fingerprint
    logger.debug(f"(FP: {fingerprint}) Matching Slack rules.")
    candidates = []
    for rule in SlackIntegrationRule.objects.filter(is_active=True):
        if rule_matches(rule, alert_group):
            candidates.append(rule)
            logger.info(f"(FP: {fingerprint}) Rule {rule.name!r} (ID {rule.id}) matches.")
    if not candidates:
        logger.info(f"(FP: {fingerprint}) No active Slack rule matches.")
        return None
    candidates.sort(key=lambda r: (-len(r.match_criteria or {}), -r.priority, r.name))
    best = candidates[0]
    logger.info(f"(FP: {fingerprint}) Best rule: {best.name!r} (ID {best.id}).")
    return best


def rule_matches(rule: Any, alert_group: Any) -> bool:
    """Every criterion holds. ``labels__<name>`` compares a label as text; another key names
    an attribute of the alert group, compared as text, or tested with ``<field>__isnull``."""
    criteria = rule.match_criteria or {}
    fingerprint = alert_group.fingerprint
    if not isinstance(criteria, dict):
        logger.warning(f"(FP: {fingerprint}) Rule {rule.name!r}: criteria are not a dict.")
        return False
    if not criteria:
        return True  # no criteria: the rule matches every alert
    for key, expected in criteria.items():
        if key.startswith("labels__"):
            name = key[len("labels__") :]
            actual = alert_group.labels.get(name)
            if str(actual) != str(expected):
                logger.debug(
                    f"(FP: {fingerprint}) Rule {rule.name!r}: label {name!r} is {actual!r}, "
                    f"not {expected!r}."
                )
                return False
            continue
        field, _, lookup = key.partition("__")
        if not hasattr(alert_group, field):
            logger.debug(f"(FP: {fingerprint}) Rule {rule.name!r}: no field {field!r}.")
            return False
        actual = getattr(alert_group, field)
        if lookup == "isnull":
            if (actual is None or actual == "") != expected:
                logger.debug(f"(FP: {fingerprint}) Rule {rule.name!r}: {field} isnull fails.")
                return False
        elif str(actual) != str(expected):
            logger.debug(
                f"(FP: {fingerprint}) Rule {rule.name!r}: field {field!r} is {actual!r}, "
                f"not {expected!r}."
            )
            return False
    logger.debug(f"(FP: {fingerprint}) Rule {rule.name!r}: every criterion holds.")
    return True


# -- the task -----------------------------------------------------------------------------


@shared_task(bind=True, name=TASK_NAME)
def process_slack_for_alert_group(
    self: Any, alert_group_id: int, rule_id: int, alert_status: str | None = None
) -> None:
    """Render the rule's message for the alert group, mask IP addresses, post it."""
    from tests.alerts.models import AlertGroup
    from tests.legacy_integrations.models import SlackIntegrationRule

    try:
        alert_group = AlertGroup.objects.get(pk=alert_group_id)
        rule = SlackIntegrationRule.objects.get(pk=rule_id)
    except AlertGroup.DoesNotExist:
        logger.error(f"Slack task {self.request.id}: no alert group {alert_group_id}; stopped.")
        return
    except SlackIntegrationRule.DoesNotExist:
        logger.error(f"Slack task {self.request.id}: no Slack rule {rule_id}; stopped.")
        return
    fingerprint = alert_group.fingerprint
    logger.info(
        f"Slack task {self.request.id} (FP: {fingerprint}): alert group {alert_group_id}, "
        f"rule {rule_id}"
    )

    latest_instance = alert_group.instances.order_by("-started_at").first()
    annotations = latest_instance.annotations if latest_instance else {}
    status = alert_status or getattr(alert_group, "current_status", None)
    context = {
        "alert_group": alert_group,
        "latest_instance": latest_instance,
        "annotations": annotations,
        "summary": annotations.get("summary", alert_group.name),
        "description": annotations.get("description", "No description provided."),
    }
    resolved = status == "resolved" and getattr(rule, "resolved_message_template", "")
    template = rule.resolved_message_template if resolved else rule.message_template
    message = mask_ip_addresses(render_template_safe(template or "", context))
    logger.debug(f"Slack task {self.request.id} (FP: {fingerprint}): message {message}")
    if not message:
        logger.info(
            f"Slack task {self.request.id} (FP: {fingerprint}): empty message for status "
            f"{status}; nothing sent."
        )
        return

    channel, source = resolve_channel(alert_group, rule)
    logger.info(
        f"Slack task {self.request.id} (FP: {fingerprint}): channel {channel!r} (from {source})"
    )
    try:
        send_notification(channel, message, fingerprint=fingerprint)
    except SlackNotificationError as exc:
        metrics.inc("sentryhub_slack_notifications_total", {"status": "retry"})
        logger.warning(
            f"Slack task {self.request.id} (FP: {fingerprint}): network error, Celery retries: "
            f"{exc}"
        )
        raise self.retry(exc=exc) from exc
    logger.info(f"Slack task {self.request.id} (FP: {fingerprint}): sent to {channel}.")


def render_template_safe(text: str, context: dict[str, Any], default: str = "") -> str:
    """The template rendered (a new ``Template`` each time), stripped; ``default`` when
    there is no template or it fails."""
    if not text:
        return default
    try:
        return Template(text).render(Context(context)).strip()
    except TemplateSyntaxError as exc:
        logger.warning(f"Template syntax error: {exc}; using the default.", exc_info=True)
    except Exception as exc:
        logger.error(f"Template failed to render: {exc}; using the default.", exc_info=True)
    return default


#: Candidates: a dotted quad, or a run of hex digits and colons (optionally in brackets),
#: with an optional port. Only candidates that parse as an IP address are masked.
_IPV4_LIKE = r"\d{1,3}(?:\.\d{1,3}){3}"
_IPV6_LIKE = r"\[?[0-9A-Fa-f:]+\]?"
_ADDRESS = re.compile(rf"\b(?:{_IPV4_LIKE}|{_IPV6_LIKE})(?::\d{{1,5}})?\b")


def _address_of(candidate: str) -> str:
    """The part of a candidate that has to be an IP address for the candidate to be masked."""
    if candidate.startswith("[") and "]" in candidate:
        return candidate[1 : candidate.index("]")]
    if "." in candidate:
        return candidate.partition(":")[0]
    if candidate.count(":") > 1:
        address, _, port = candidate.rpartition(":")
        if port.isdigit():
            return address
    return candidate


def _mask(match: re.Match[str]) -> str:
    candidate = match.group(0)
    try:
        ipaddress.ip_address(_address_of(candidate))
    except ValueError:
        return candidate
    return "IP"


def mask_ip_addresses(message: str) -> str:
    """``message`` with every IPv4 or IPv6 address, and the port after it, replaced by IP."""
    if not message:
        return message
    masked, count = _ADDRESS.subn(_mask, message)
    if count:
        logger.debug(f"mask_ip_addresses: {count} candidate(s) looked at.")
    return masked


def resolve_channel(alert_group: Any, rule: Any) -> tuple[str, str]:
    """(channel, where it came from): the rule's, the ``channel`` label's, or the default."""
    fingerprint = alert_group.fingerprint
    if rule is not None and getattr(rule, "slack_channel", None):
        logger.info(f"(FP: {fingerprint}) Channel from rule {rule.name!r}: {rule.slack_channel!r}")
        return rule.slack_channel, "rule"
    label = str((getattr(alert_group, "labels", None) or {}).get("channel") or "").strip()
    label = label[1:].strip() if label[:1] in ("#", "@") else label
    if label:
        logger.info(f"(FP: {fingerprint}) Channel from the alert's label: {label!r}")
        return label, "label"
    default = getattr(settings, "SLACK_DEFAULT_CHANNEL", DEFAULT_CHANNEL) or DEFAULT_CHANNEL
    logger.info(f"(FP: {fingerprint}) Default channel: {default!r}")
    return default, "default"


def normalize_channel(channel: str) -> str:
    """``#name`` for a bare name; ids (C…, G…, U…, D…) and ``#names`` stay as they are."""
    channel = (channel or "").strip()
    if not channel or channel.startswith("#") or channel[0] in "CGUD":
        return channel
    return f"#{channel}"


def send_notification(channel: str, message: str, fingerprint: str = "N/A") -> bool:
    """POST ``{"channel", "text"}`` to SLACK_INTERNAL_ENDPOINT with a new connection.

    True when the answer is ``ok``; False (logged, not retried) for another answer or an
    unexpected error; SlackNotificationError after 3 failed attempts (network or HTTP
    error status), with 1 s and 2 s pauses in between.
    """
    endpoint = getattr(settings, "SLACK_INTERNAL_ENDPOINT", "")
    if not endpoint:
        logger.error(f"Slack (FP: {fingerprint}): SLACK_INTERNAL_ENDPOINT is not set.")
        metrics.inc("sentryhub_component_initialization_errors_total", {"component": "slack"})
        return False
    channel = normalize_channel(channel)
    payload = {"channel": channel, "text": message}
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            response = requests.post(endpoint, json=payload, timeout=SEND_TIMEOUT)
            response.raise_for_status()
            if response.text.strip().lower() != "ok":
                logger.error(
                    f"Slack (FP: {fingerprint}): unexpected answer for {channel!r} "
                    f"(status={response.status_code}, body={response.text!r})"
                )
                metrics.inc(
                    "sentryhub_slack_notifications_total",
                    {"status": "failure", "reason": "bad_response"},
                )
                return False
            logger.info(
                "Message posted to Slack channel %r: %r",
                channel,
                message[:200] + ("…" if len(message) > 200 else ""),
            )
            metrics.inc("sentryhub_slack_notifications_total", {"status": "success"})
            metrics.set(
                "sentryhub_component_last_successful_api_call_timestamp",
                time.time(),
                {"component": "slack"},
            )
            return True
        except requests.RequestException as exc:
            pause = 2 ** (attempt - 1)
            logger.warning(
                f"Slack (FP: {fingerprint}): attempt {attempt}/{SEND_ATTEMPTS} for {channel!r} "
                f"failed: {exc}; next in {pause}s"
            )
            if attempt == SEND_ATTEMPTS:
                metrics.inc(
                    "sentryhub_slack_notifications_total",
                    {"status": "failure", "reason": "network_error"},
                )
                raise SlackNotificationError("Network error sending to Slack") from exc
            time.sleep(pause)  # SentryHub waits in the task between attempts
        except Exception as exc:
            logger.error(
                f"Slack (FP: {fingerprint}): unexpected error for {channel!r}: {exc}",
                exc_info=True,
            )
            metrics.inc(
                "sentryhub_slack_notifications_total", {"status": "failure", "reason": "unexpected"}
            )
            return False
    return False
