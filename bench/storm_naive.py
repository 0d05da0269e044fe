"""The naive sender of ``bench/storm.py``: SentryHub's Slack task (``sentryhub_baseline``), its
first attempt only: it posts each alert once and drops what Slack refuses, as Alertmanager
does (SentryHub's task would sleep 1 s and 2 s in the task, then retry through Celery 3
minutes later, holding a worker process for 3 s per refused alert in a storm).
"""

# SentryHub formats its log messages with f-strings; this task does the same.
# ruff: noqa: G004

from __future__ import annotations

import logging

import requests
from celery import shared_task
from django.conf import settings
from sentryhub_baseline import (
    SEND_TIMEOUT,
    mask_ip_addresses,
    normalize_channel,
    render_template_safe,
    resolve_channel,
    template_context,
)

logger = logging.getLogger(__name__)


@shared_task(name="storm_naive.post_alert")
def post_alert(alert_group_id: int, rule_id: int) -> str:
    """Render the rule's message for the alert group and post it once: "sent" or "dropped"."""
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
