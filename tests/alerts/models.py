"""A host app shaped like SentryHub's ``alerts`` app."""

from django.db import models


class AlertGroup(models.Model):
    fingerprint = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    labels = models.JSONField(default=dict)
    severity = models.CharField(max_length=50, default="warning")
    source = models.CharField(max_length=100, blank=True, default="alertmanager")
    instance = models.CharField(max_length=255, blank=True, null=True)
    current_status = models.CharField(max_length=20, default="firing")
    is_silenced = models.BooleanField(default=False)
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
