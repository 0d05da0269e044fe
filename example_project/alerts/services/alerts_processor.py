"""Storing Alertmanager's alerts the way SentryHub does, and sending ``alert_processed``;
acknowledging an alert as SentryHub's alert page does (``acknowledge_alert``, which
django-slack-rules' adapter calls for a click on *Acknowledge* in Slack)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..alertmanager import Alert
from ..models import AlertAcknowledgementHistory, AlertGroup, AlertInstance, Silence
from ..signals import alert_processed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    group: AlertGroup
    instance: AlertInstance
    silence: Silence | None


def store_alerts(alerts: list[Alert]) -> list[Stored]:
    """Store every alert and send ``alert_processed`` for each, in one transaction.

    django-slack-rules queues its task on commit, so a failure here sends nothing.
    """
    with transaction.atomic():
        return [store_alert(alert) for alert in alerts]


def store_alert(alert: Alert) -> Stored:
    silence = Silence.objects.matching(alert.labels)
    group, created = AlertGroup.objects.select_for_update().get_or_create(
        fingerprint=alert.fingerprint, defaults={"name": alert.name[:255]}
    )
    # The labels are kept whole; the columns copied from them are cut to their length.
    group.name = alert.name[:255]
    group.labels = alert.labels
    group.severity = alert.labels.get("severity", "warning")[:50]
    group.instance = alert.labels.get("instance", "")[:255]
    group.current_status = alert.status
    group.is_silenced = silence is not None

    # One occurrence per startsAt: a repeated notification updates it, a new firing adds one.
    instance = group.instances.filter(started_at=alert.starts_at).first() if not created else None
    if instance is None:
        instance = AlertInstance(alert_group=group, started_at=alert.starts_at)
        if alert.status == "firing":
            group.total_firing_count += 1
    instance.status = alert.status
    instance.ended_at = alert.ends_at if alert.status == "resolved" else None
    instance.annotations = alert.annotations
    instance.generator_url = alert.generator_url
    group.save()
    instance.save()

    logger.info(
        "Alert %s %s (fingerprint=%s)%s",
        alert.name,
        alert.status,
        alert.fingerprint,
        f", silenced by {silence.name!r}" if silence else "",
    )
    alert_processed.send(
        sender=AlertGroup, alert_group=group, instance=instance, status=alert.status
    )
    return Stored(group=group, instance=instance, silence=silence)


def acknowledge_alert(alert_group: AlertGroup, user: Any, comment: str | None = None) -> AlertGroup:
    """Mark the alert acknowledged by ``user`` now, with a history row for its current firing
    (the same name and arguments as SentryHub's, so the package's adapter finds it)."""
    alert_group.acknowledged = True
    alert_group.acknowledged_by = user
    alert_group.acknowledgement_time = timezone.now()
    alert_group.save(update_fields=["acknowledged", "acknowledged_by", "acknowledgement_time"])
    AlertAcknowledgementHistory.objects.create(
        alert_group=alert_group,
        alert_instance=alert_group.instances.filter(status="firing", ended_at=None).first(),
        acknowledged_by=user,
        comment=comment or "",
    )
    logger.info(
        "Alert %s acknowledged by %s (fingerprint=%s)",
        alert_group.name,
        user,
        alert_group.fingerprint,
    )
    return alert_group
