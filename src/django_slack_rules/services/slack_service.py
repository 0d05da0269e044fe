"""Sending one message to Slack through the configured backend."""

from __future__ import annotations

import logging
from typing import Any

from ..backends.base import BaseBackend, SlackResult
from ..conf import slack_rules_settings
from ..exceptions import SlackDeliveryError, SlackRulesConfigurationError
from ..rendering import truncate
from ..signals import post_send, pre_send

logger = logging.getLogger(__name__)


def get_backend(**options: Any) -> BaseBackend:
    """A new instance of the backend named by ``SLACK_RULES["BACKEND"]``."""
    backend_class = slack_rules_settings.import_setting("BACKEND")
    if not (isinstance(backend_class, type) and issubclass(backend_class, BaseBackend)):
        raise SlackRulesConfigurationError(
            f'SLACK_RULES["BACKEND"] = {slack_rules_settings.BACKEND!r} is not a backend class. '
            "Name a subclass of django_slack_rules.backends.BaseBackend, e.g. "
            '"django_slack_rules.backends.InternalProxyBackend".'
        )
    return backend_class(**options)


class SlackService:
    """Sends messages through a backend, truncating them to the configured limit.

    ``send_notification`` returns a :class:`SlackResult` or raises a
    :class:`~django_slack_rules.exceptions.SlackDeliveryError` subclass:
    ``SlackRetryableError`` (connection errors, timeouts, 5xx),
    ``SlackRateLimitedError`` (429, with ``retry_after``) or ``SlackPermanentError``.
    """

    def __init__(self, backend: BaseBackend | None = None) -> None:
        self.backend = backend or get_backend()

    def prepare_message(self, message: str) -> str:
        return truncate(message, slack_rules_settings.MESSAGE_MAX_LENGTH)

    def send_notification(
        self, channel: str, message: str, *, delivery: Any = None, **extra: Any
    ) -> SlackResult:
        text = self.prepare_message(message)
        backend_class = type(self.backend)
        pre_send.send(sender=backend_class, channel=channel, message=text, delivery=delivery)
        try:
            result = self.backend.send(channel, text, **extra)
        except SlackDeliveryError as error:
            error.channel = error.channel or channel
            post_send.send(
                sender=backend_class,
                channel=channel,
                message=text,
                delivery=delivery,
                result=None,
                error=error,
            )
            raise
        post_send.send(
            sender=backend_class,
            channel=channel,
            message=text,
            delivery=delivery,
            result=result,
            error=None,
        )
        return result
