"""Delivery backends: how a message leaves Django.

- :class:`InternalProxyBackend` (default): JSON POST to ``SLACK_INTERNAL_ENDPOINT``,
  the internal nginx location that holds the Slack secret.
- :class:`LocmemBackend`: keeps messages in ``django_slack_rules.backends.locmem.outbox``
  (tests).
- :class:`ConsoleBackend`: prints messages (development).

``SLACK_RULES["BACKEND"]`` names the one in use; :func:`get_backend` makes it.
"""

from __future__ import annotations

from ..conf import slack_rules_settings
from ..exceptions import SlackRulesConfigurationError
from .base import BaseBackend, SlackResult
from .console import ConsoleBackend
from .locmem import LocmemBackend
from .proxy import InternalProxyBackend


def get_backend_class() -> type[BaseBackend]:
    """The backend class named by ``SLACK_RULES["BACKEND"]``."""
    backend = slack_rules_settings.import_setting("BACKEND")
    if not (isinstance(backend, type) and issubclass(backend, BaseBackend)):
        raise SlackRulesConfigurationError(
            f'SLACK_RULES["BACKEND"] = {slack_rules_settings.BACKEND!r} is not a backend class. '
            "Name a subclass of django_slack_rules.backends.BaseBackend, e.g. "
            '"django_slack_rules.backends.InternalProxyBackend".'
        )
    return backend


def get_backend(**options: object) -> BaseBackend:
    """A new instance of the backend named by ``SLACK_RULES["BACKEND"]``."""
    return get_backend_class()(**options)


__all__ = [
    "BaseBackend",
    "ConsoleBackend",
    "InternalProxyBackend",
    "LocmemBackend",
    "SlackResult",
    "get_backend",
    "get_backend_class",
]
