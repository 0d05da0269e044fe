"""SentryHub's ``alerts.services.silence_matcher`` (written for the tests from SentryHub's
behaviour): an alert is silenced while an active rule's matchers all equal its labels."""

from django.utils import timezone

from tests.alerts.models import SilenceRule


def check_alert_silence(alert_group):
    """Set ``is_silenced`` and ``silenced_until`` from the active silence rules; True when
    the alert is silenced now."""
    now = timezone.now()
    latest_end = None
    for rule in SilenceRule.objects.filter(starts_at__lte=now, ends_at__gt=now):
        matchers = rule.matchers
        if not isinstance(matchers, dict) or not matchers:
            continue
        if all(alert_group.labels.get(key) == value for key, value in matchers.items()):
            latest_end = rule.ends_at if latest_end is None else max(latest_end, rule.ends_at)
    silenced = latest_end is not None
    if (alert_group.is_silenced, alert_group.silenced_until) != (silenced, latest_end):
        alert_group.is_silenced, alert_group.silenced_until = silenced, latest_end
        alert_group.save(update_fields=["is_silenced", "silenced_until"])
    return silenced
