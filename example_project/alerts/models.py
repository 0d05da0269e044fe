"""Alerts as SentryHub stores them: one AlertGroup per fingerprint, one AlertInstance per
firing, who acknowledged what (AlertAcknowledgementHistory); and a small silence table
that marks matching alerts as silenced."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AlertGroup(models.Model):
    fingerprint = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    labels = models.JSONField(default=dict)
    severity = models.CharField(max_length=50, default="warning")
    source = models.CharField(max_length=100, blank=True, default="alertmanager")
    instance = models.CharField(max_length=255, blank=True, default="")
    current_status = models.CharField(max_length=20, default="firing")
    is_silenced = models.BooleanField(default=False)
    first_occurrence = models.DateTimeField(auto_now_add=True)
    last_occurrence = models.DateTimeField(auto_now=True)
    total_firing_count = models.PositiveIntegerField(default=0)
    acknowledged = models.BooleanField(default=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="acknowledged_alerts",
    )
    acknowledgement_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_occurrence"]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint})"


class AlertInstance(models.Model):
    """One occurrence: Alertmanager's alert with a given ``startsAt``."""

    alert_group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="instances")
    status = models.CharField(max_length=20)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    annotations = models.JSONField(default=dict)
    generator_url = models.URLField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.alert_group.name} {self.status} {self.started_at:%Y-%m-%d %H:%M}"


class AlertAcknowledgementHistory(models.Model):
    """One row per acknowledgement, from the host's pages or from Slack."""

    alert_group = models.ForeignKey(
        AlertGroup, on_delete=models.CASCADE, related_name="acknowledgement_history"
    )
    alert_instance = models.ForeignKey(
        AlertInstance, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(auto_now_add=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-acknowledged_at"]
        verbose_name_plural = "alert acknowledgement history"

    def __str__(self) -> str:
        return f"{self.alert_group.name} acknowledged by {self.acknowledged_by}"


class SilenceQuerySet(models.QuerySet):
    def active(self, now=None) -> SilenceQuerySet:
        now = now or timezone.now()
        return self.filter(starts_at__lte=now).filter(
            models.Q(ends_at__isnull=True) | models.Q(ends_at__gt=now)
        )

    def matching(self, labels: dict[str, str]) -> Silence | None:
        """The first active silence whose every matcher is among ``labels``, or None."""
        for silence in self.active().order_by("pk"):
            if silence.matches(labels):
                return silence
        return None


class Silence(models.Model):
    """Alerts whose labels contain every ``matchers`` pair are stored as silenced.

    SentryHub keeps its own silence table the same way; a silenced alert is still
    stored and shown, and django-slack-rules sends nothing for it. A click on *Silence*
    in Slack adds one on the alert's labels (``created_by`` is who clicked).
    """

    name = models.CharField(max_length=255, blank=True)  # blank: made from Slack
    matchers = models.JSONField(
        default=dict, help_text='Labels to match, e.g. {"instance": "10.1.1.11:9100"}.'
    )
    comment = models.TextField(blank=True)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Blank: until deleted.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    objects = SilenceQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name or f"Silence of {self.matchers}"

    def matches(self, labels: dict[str, str]) -> bool:
        return bool(self.matchers) and all(
            labels.get(key) == value for key, value in self.matchers.items()
        )
