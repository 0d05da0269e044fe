"""Sending one message to Slack through the configured backend."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.dispatch import Signal

from ..backends import BaseBackend, SlackResult, get_backend
from ..conf import slack_rules_settings
from ..exceptions import SlackDeliveryError, SlackSendCancelled
from ..models import SlackDelivery
from ..rendering.templates import truncate
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

    def send_notification(
        self,
        channel: str,
        message: str,
        *,
        delivery: SlackDelivery | None = None,
        **extra: object,
    ) -> SlackResult:
        """Post ``message`` to ``channel``. ``extra["payload"]``: more fields of the message
        (``blocks``, ``thread_ts``, ``reply_broadcast``)."""
        return self._call("post", channel, message, delivery, extra)

    def update_message(
        self,
        channel: str,
        ts: str,
        message: str,
        *,
        delivery: SlackDelivery | None = None,
        **extra: object,
    ) -> SlackResult:
        """Replace the message ``ts`` in ``channel`` (a channel id) with ``message``
        (``chat.update``; bot mode). ``extra["payload"]``: more fields (``blocks``)."""
        return self._call("update", channel, message, delivery, extra, ts=ts)

    def post_ephemeral(self, channel: str, user: str, text: str) -> SlackResult:
        """Show ``text`` to ``user`` only, in ``channel`` (a channel id): the answer to a
        click from Slack that did nothing (``chat.postEphemeral``; bot mode). Not a
        notification: no ``pre_send``/``post_send``."""
        return self.backend.post_ephemeral(channel, user, prepare_message(text))

    def user_info(self, user: str) -> Mapping[str, object]:
        """Slack's ``user`` object for a user id (``users.info``; bot mode)."""
        return self.backend.user_info(user)

    def _call(
        self,
        method: str,
        channel: str,
        message: str,
        delivery: SlackDelivery | None,
        extra: dict[str, object],
        ts: str = "",
    ) -> SlackResult:
        text = prepare_message(message)
        backend_class = type(self.backend)
        signal_args = {"sender": backend_class, "channel": channel, "message": text}
        if method == "update":
            signal_args["action"] = "update"
        send_robustly(pre_send, delivery=delivery, **signal_args)
        try:
            if method == "update":
                result = self.backend.update(channel, ts, text, **extra)
            else:
                result = self.backend.send(channel, text, **extra)
        except SlackDeliveryError as error:
            error.channel = error.channel or channel
            send_robustly(post_send, delivery=delivery, result=None, error=error, **signal_args)
            raise
        send_robustly(post_send, delivery=delivery, result=result, error=None, **signal_args)
        return result


def send_robustly(signal: Signal, *, delivery: SlackDelivery | None, **kwargs: object) -> None:
    """Send ``pre_send``/``post_send`` so that a receiver's error changes no outcome.

    Every receiver runs. An error is logged with the receiver's name (and the alert's
    fingerprint); only :class:`SlackSendCancelled` from ``pre_send`` has an effect: it
    is raised once every receiver has run, and cancels the message.
    """
    cancel: SlackSendCancelled | None = None
    for receiver, response in signal.send_robust(delivery=delivery, **kwargs):
        if not isinstance(response, Exception):
            continue
        if isinstance(response, SlackSendCancelled) and signal is pre_send:
            cancel = cancel or response
            continue
        logger.error(
            "%s receiver %s raised %s: %s (fingerprint=%s, channel %s); ignored, the "
            "message's outcome is not changed. Fix the receiver.",
            "pre_send" if signal is pre_send else "post_send",
            _receiver_name(receiver),
            type(response).__name__,
            response,
            getattr(delivery, "fingerprint", "") or "-",
            kwargs.get("channel", ""),
            exc_info=response,
        )
    if cancel is not None:
        raise cancel


def _receiver_name(receiver: object) -> str:
    module = getattr(receiver, "__module__", "") or ""
    name = getattr(receiver, "__qualname__", "") or repr(receiver)
    return f"{module}.{name}" if module else name
