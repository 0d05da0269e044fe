from django.apps import AppConfig


class LegacyIntegrationsConfig(AppConfig):
    """SentryHub's in-tree Slack integration, for the import command's tests."""

    name = "tests.legacy_integrations"
    label = "integrations"  # so the model is `integrations.SlackIntegrationRule`, as in SentryHub
    default_auto_field = "django.db.models.BigAutoField"
