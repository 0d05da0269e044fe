"""Sending one message to Slack through the configured backend."""

from __future__ import annotations

import logging
from typing import Any

from ..backends import BaseBackend, SlackResult, get_backend
from ..conf import slack_rules_settings
from ..exceptions import SlackDeliveryError
from ..models import SlackDelivery
from ..rendering import truncate
from ..signals import post_send, pre_send

logger = logging.getLogger(__name__)


def prepare_message(message: str) -> str:
    """The text Slack gets for ``message``: cut to SLACK_RULES["MESSAGE_MAX_LENGTH"] with a marker."""
    return truncate(message, slack_rules_settings.MESSAGE_MAX_LENGTH)


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
        return prepare_message(message)

    def send_notification(
        self,
        channel: str,
        message: str,
        *,
        delivery: SlackDelivery | None = None,
        **extra: Any,
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
