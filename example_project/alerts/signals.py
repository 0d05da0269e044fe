"""The host's signal, as SentryHub sends it once per processed alert.

``alert_processed.send(sender=AlertGroup, alert_group=…, instance=…, status="firing"|"resolved")``
django-slack-rules listens to it (``SLACK_RULES["SIGNAL"]``).
"""

from __future__ import annotations

from django.dispatch import Signal

alert_processed = Signal()
