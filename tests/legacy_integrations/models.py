"""The rule model of SentryHub's ``integrations`` app (its own Slack integration)."""

from django.db import models


class SlackIntegrationRule(models.Model):
    """Keys written ``labels__<name>``; SentryHub ranks by specificity (the number of
    criteria, then priority) or, in its first version, by priority then name. An empty
    resolved template makes it send the firing one on resolve."""

    name = models.CharField(max_length=255, unique=True)
    is_active = models.BooleanField(default=True)
    priority = models.IntegerField(default=0)
    match_criteria = models.JSONField(default=dict)
    slack_channel = models.CharField(max_length=100, blank=True)
    message_template = models.TextField()
    resolved_message_template = models.TextField(blank=True)

    def __str__(self):
        return self.name
