from __future__ import annotations

import logging

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


class DjangoSlackRulesConfig(AppConfig):
    name = "django_slack_rules"
    label = "django_slack_rules"
    verbose_name = _("Slack rules")
    # Pinned, so a host's DEFAULT_AUTO_FIELD never creates migrations for this app.
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .handlers import connect_signal

        try:
            connect_signal()
        except ImproperlyConfigured as exc:
            # Reported with its fix by the system check django_slack_rules.E001.
            logger.warning("django-slack-rules: the alert signal is not connected: %s", exc)
