"""The host's signals, as SentryHub's ``alerts/signals.py`` has them."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal

# Sent as alert_processed.send(sender=AlertGroup, alert_group=…, instance=…, status=…)
alert_processed = Signal()


def rescan_alerts_for_silence(sender, instance, **kwargs):
    """A silence rule was saved or deleted: re-check every alert that is not resolved."""
    from tests.alerts.models import AlertGroup
    from tests.alerts.services.silence_matcher import check_alert_silence

    with transaction.atomic():
        for alert_group in AlertGroup.objects.exclude(current_status="resolved").iterator():
            check_alert_silence(alert_group)


def connect():
    from tests.alerts.models import SilenceRule

    post_save.connect(rescan_alerts_for_silence, sender=SilenceRule, dispatch_uid="silence-saved")
    post_delete.connect(
        rescan_alerts_for_silence, sender=SilenceRule, dispatch_uid="silence-deleted"
    )
