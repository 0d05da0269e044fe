"""The settings that name something to import: the host's signal (E001, E009) and alert
model (E002), the adapter (E003), the backend (E004, W001)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext

from ..backends import ConsoleBackend, LocmemBackend, get_backend_class
from ..conf import slack_rules_settings
from .common import check_message


def check_imports() -> list[checks.CheckMessage]:
    """E001, E009, E002, E003, E004, W001, in that order."""
    return _check_signal() + _check_alert_model() + _check_adapter() + _check_backend()


def _import(key: str) -> tuple[object, str | None]:
    try:
        return slack_rules_settings.import_setting(key), None
    except ImproperlyConfigured as exc:
        return None, str(exc)


def _check_signal() -> list[checks.CheckMessage]:
    if slack_rules_settings.SIGNAL is None:
        return []
    try:
        slack_rules_settings.get_signal()
    except ImproperlyConfigured as exc:
        return [
            check_message(
                "E001",
                str(exc),
                gettext(
                    'Set SLACK_RULES["SIGNAL"] to the dotted path of the host\'s Signal, '
                    'e.g. "alerts.signals.alert_processed", or None to connect nothing.'
                ),
            )
        ]
    if not slack_rules_settings.ALERT_MODEL:
        return [
            check_message(
                "E009",
                gettext(
                    'SLACK_RULES["SIGNAL"] is set but SLACK_RULES["ALERT_MODEL"] is not, so the '
                    "task cannot load the alert."
                ),
                gettext(
                    'Set SLACK_RULES["ALERT_MODEL"] to "app_label.ModelName", '
                    'e.g. "alerts.AlertGroup".'
                ),
            )
        ]
    return []


def _check_alert_model() -> list[checks.CheckMessage]:
    if not slack_rules_settings.ALERT_MODEL:
        return []
    try:
        slack_rules_settings.get_alert_model()
    except ImproperlyConfigured as exc:
        return [
            check_message(
                "E002",
                str(exc),
                gettext(
                    'Use "app_label.ModelName" of a model in an installed app, '
                    'e.g. "alerts.AlertGroup".'
                ),
            )
        ]
    return []


def _check_adapter() -> list[checks.CheckMessage]:
    adapter, problem = _import("ADAPTER")
    if problem or not isinstance(adapter, type):
        return [
            check_message(
                "E003",
                problem
                or gettext('SLACK_RULES["ADAPTER"] = %(value)r is not a class.')
                % {"value": slack_rules_settings.ADAPTER},
                gettext(
                    'Name an adapter class, e.g. "django_slack_rules.adapters.AlertGroupAdapter" '
                    "or your subclass of it."
                ),
            )
        ]
    return []


def _check_backend() -> list[checks.CheckMessage]:
    try:
        backend = get_backend_class()
    except ImproperlyConfigured as exc:
        return [
            check_message(
                "E004",
                str(exc),
                gettext(
                    'Use "django_slack_rules.backends.InternalProxyBackend" (production), '
                    '"...LocmemBackend" (tests) or "...ConsoleBackend" (development).'
                ),
            )
        ]
    messages = []
    if issubclass(backend, (LocmemBackend, ConsoleBackend)) and not settings.DEBUG:
        messages.append(
            check_message(
                "W001",
                gettext(
                    'SLACK_RULES["BACKEND"] is %(backend)s while DEBUG is off: '
                    "no message will reach Slack."
                )
                % {"backend": backend.__name__},
                gettext('Use "django_slack_rules.backends.InternalProxyBackend" in production.'),
            )
        )
    return messages
