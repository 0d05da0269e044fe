"""The naive side of ``bench/storm.py``: one task per alert that posts at once.

Shaped like SentryHub's Slack task (``bench/sentryhub_baseline.py``, which follows
ghanad/sentryHub's ``integrations/tasks.py``): it loads the alert group, the rule and the
latest occurrence, renders the rule's template on Django's engine, masks IP addresses and
posts with one ``requests.post`` to ``SLACK_INTERNAL_ENDPOINT``. No pacing, no digest, no
record. Slack's 429 is not handled: like any answer other than ``ok``, it is logged and
the alert is dropped (as Alertmanager drops a notification Slack refuses).

SentryHub's own task would instead try again in the task, sleeping 1 s and then 2 s, and
then through Celery 3 minutes later, three times: in a storm every refused alert would
hold a worker process for 3 s (2,000 alerts: about 50 minutes of a 2-process worker) and
keep hitting the channel while Slack asks it to wait. This task is the optimistic
version of that: the same first attempt, without the waiting.
"""

# SentryHub formats its log messages with f-strings; this task does the same.
# ruff: noqa: G004

from __future__ import annotations

import logging
from typing import Any

import requests
from celery import shared_task
from django.conf import settings
from sentryhub_baseline import (
    SEND_TIMEOUT,
    mask_ip_addresses,
    normalize_channel,
    render_template_safe,
    resolve_channel,
)

logger = logging.getLogger(__name__)

TASK_NAME = "storm_naive.post_alert"


@shared_task(bind=True, name=TASK_NAME)
def post_alert(self: Any, alert_group_id: int, rule_id: int, alert_status: str = "firing") -> str:
    """Render the rule's message for the alert group and post it once: "sent" or "dropped"."""
    from tests.alerts.models import AlertGroup
    from tests.legacy_integrations.models import SlackIntegrationRule

    alert_group = AlertGroup.objects.get(pk=alert_group_id)
    rule = SlackIntegrationRule.objects.get(pk=rule_id)
    latest = alert_group.instances.order_by("-started_at").first()
    annotations = latest.annotations if latest else {}
    context = {
        "alert_group": alert_group,
        "latest_instance": latest,
        "annotations": annotations,
        "summary": annotations.get("summary", alert_group.name),
        "description": annotations.get("description", "No description provided."),
    }
    message = mask_ip_addresses(render_template_safe(rule.message_template, context))
    channel = normalize_channel(resolve_channel(alert_group, rule)[0])
    fingerprint = alert_group.fingerprint
    try:
        response = requests.post(
            settings.SLACK_INTERNAL_ENDPOINT,
            json={"channel": channel, "text": message},
            timeout=SEND_TIMEOUT,
        )
        response.raise_for_status()
    except requests.RequestException as exc:
        logger.error(f"Slack (FP: {fingerprint}): not posted to {channel!r}, dropped: {exc}")
        return "dropped"
    logger.info(f"Slack (FP: {fingerprint}): posted to {channel!r}")
    return "sent"
