"""SentryHub's ``alerts.services.alerts_processor``, as its pages use it (written for the
tests from SentryHub's behaviour)."""

import logging

from django.utils import timezone

from tests.alerts.models import AlertAcknowledgementHistory, AlertInstance

logger = logging.getLogger(__name__)


def acknowledge_alert(alert_group, user, comment=None):
    """Set the alert acknowledged by ``user`` now, and add a history row for its firing
    occurrence."""
    alert_group.acknowledged = True
    alert_group.acknowledged_by = user
    alert_group.acknowledgement_time = timezone.now()
    alert_group.save(update_fields=["acknowledged", "acknowledged_by", "acknowledgement_time"])
    AlertAcknowledgementHistory.objects.create(
        alert_group=alert_group,
        alert_instance=get_active_firing_instance(alert_group),
        acknowledged_by=user,
        comment=comment,
    )
    logger.info("Alert acknowledged: %r by %r", alert_group.name, user.username)
    return alert_group


def get_active_firing_instance(alert_group):
    return AlertInstance.objects.filter(
        alert_group=alert_group, status="firing", ended_at__isnull=True
    ).first()
