"""A host app shaped like SentryHub's ``alerts`` app: its alert models, and what its pages
use to acknowledge and silence an alert (written for the tests from SentryHub's
behaviour: ``alerts/models.py`` in ghanad/sentryHub)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AlertGroup(models.Model):
    fingerprint = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    labels = models.JSONField(default=dict)
    severity = models.CharField(max_length=50, default="warning")
    source = models.CharField(max_length=100, blank=True, default="alertmanager")
    instance = models.CharField(max_length=255, blank=True, null=True)
    current_status = models.CharField(max_length=20, default="firing")
    is_silenced = models.BooleanField(default=False)
    silenced_until = models.DateTimeField(null=True, blank=True)
    acknowledged = models.BooleanField(default=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="acknowledged_alerts",
    )
    acknowledgement_time = models.DateTimeField(null=True, blank=True)
    first_occurrence = models.DateTimeField(auto_now_add=True)
    last_occurrence = models.DateTimeField(auto_now=True)
    total_firing_count = models.PositiveIntegerField(default=1)
    jira_issue_key = models.CharField(max_length=50, blank=True, null=True)

    def __str__(self):
        return self.name


class AlertInstance(models.Model):
    alert_group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="instances")
    status = models.CharField(max_length=20)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    annotations = models.JSONField(default=dict)
    generator_url = models.URLField(max_length=500, blank=True, null=True)

    def __str__(self):
        return f"{self.alert_group.name} {self.status} {self.started_at}"


class AlertComment(models.Model):
    alert_group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="comments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_comments"
    )
    content = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Comment by {self.user} on {self.alert_group}"


class AlertAcknowledgementHistory(models.Model):
    """One row per acknowledgement: SentryHub's alert page lists them."""

    alert_group = models.ForeignKey(
        AlertGroup, on_delete=models.CASCADE, related_name="acknowledgement_history"
    )
    alert_instance = models.ForeignKey(
        AlertInstance,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="acknowledgements",
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="alert_acknowledgements",
    )
    acknowledged_at = models.DateTimeField(auto_now_add=True)
    comment = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ["-acknowledged_at"]

    def __str__(self):
        return f"Acknowledgement by {self.acknowledged_by} on {self.alert_group}"


class SilenceRule(models.Model):
    """Labels to match exactly, from ``starts_at`` until ``ends_at``."""

    matchers = models.JSONField()
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="created_silence_rules",
    )
    comment = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Silence rule for {self.matchers} (by {self.created_by or 'System'})"

    def is_active(self):
        return self.starts_at <= timezone.now() < self.ends_at
