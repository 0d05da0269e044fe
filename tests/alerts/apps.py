from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "tests.alerts"
    label = "alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # As SentryHub's alerts app does: its silence rules re-check the alerts on save.
        from tests.alerts import signals

        signals.connect()
