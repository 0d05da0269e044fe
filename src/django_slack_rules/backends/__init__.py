"""Delivery backends: how a message leaves Django.

- :class:`InternalProxyBackend` (default): JSON POST to ``SLACK_INTERNAL_ENDPOINT``,
  the internal nginx location that holds the Slack secret.
- :class:`LocmemBackend`: keeps messages in ``django_slack_rules.backends.locmem.outbox``
  (tests).
- :class:`ConsoleBackend`: prints messages (development).
"""

from .base import BaseBackend, SlackResult
from .console import ConsoleBackend
from .locmem import LocmemBackend
from .proxy import InternalProxyBackend

__all__ = ["BaseBackend", "ConsoleBackend", "InternalProxyBackend", "LocmemBackend", "SlackResult"]
