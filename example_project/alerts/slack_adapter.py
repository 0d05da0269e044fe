"""django-slack-rules' adapter for this host (``SLACK_RULES["ADAPTER"]``).

The package's ``AlertGroupAdapter`` reads SentryHub's models and acts as SentryHub's pages
do: *Acknowledge* calls ``alerts.services.alerts_processor.acknowledge_alert``, which this
host has too. Only the names that differ here are set: the silence model, and the page the
*Open* button links to (the alert in the admin, since the example has no alert page).
"""

from __future__ import annotations

from django_slack_rules.adapters import AlertGroupAdapter


class ExampleAdapter(AlertGroupAdapter):
    host_name = "Example"  # "Open in Example"
    silence_model = "Silence"
    alert_url_name = "admin:alerts_alertgroup_change"
    alert_url_kwargs = {"object_id": "pk"}
