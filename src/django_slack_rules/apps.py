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
        """All the wiring, in one place: checks, model signals, settings, the host's signal."""
        from django.core import checks as django_checks
        from django.core.signals import setting_changed
        from django.db.models.signals import post_delete, post_save

        from . import (
            action_tasks,  # noqa: F401 - workers register its task
            checks,
            conf,
            handlers,
            models,
        )

        django_checks.register(checks.check_settings, django_checks.Tags.compatibility)
        django_checks.register(checks.check_recovery_scheduled, django_checks.Tags.compatibility)
        # An unset endpoint stops a deployment (check --deploy), not migrate, test or runserver.
        django_checks.register(
            checks.check_endpoint_is_set, django_checks.Tags.compatibility, deploy=True
        )
        django_checks.register(checks.check_action_settings, django_checks.Tags.compatibility)
        # Read the rules: run only when a database is asked for (check --database default).
        django_checks.register(checks.check_rules_fit_gateway_mode, django_checks.Tags.database)
        django_checks.register(checks.check_rules_actions, django_checks.Tags.database)

        # Every rule change moves the rule-set version, so each process rebuilds its index.
        rule = models.SlackIntegrationRule
        uid = "django_slack_rules.rules_{}"
        post_save.connect(models.rules_changed, sender=rule, dispatch_uid=uid.format("saved"))
        post_delete.connect(models.rules_changed, sender=rule, dispatch_uid=uid.format("deleted"))

        # Tests change settings: forget imported paths first, then follow SLACK_RULES["SIGNAL"].
        setting_changed.connect(
            conf.reload_on_setting_changed, dispatch_uid="django_slack_rules.conf.reload"
        )
        setting_changed.connect(
            handlers.reconnect_on_setting_changed,
            dispatch_uid="django_slack_rules.handlers.reconnect",
        )
        try:
            handlers.connect_signal()
        except ImproperlyConfigured as exc:
            # Reported with its fix by the system check django_slack_rules.E001.
            logger.warning("django-slack-rules: the alert signal is not connected: %s", exc)
