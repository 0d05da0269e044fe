"""A backend that keeps messages in memory, for tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..exceptions import SlackPermanentError
from ..typing import JSONObject
from .base import BaseBackend, SlackResult


@dataclass
class OutboxMessage:
    channel: str
    text: str
    extra: dict[str, object] = field(default_factory=dict)
    #: "post" (chat.postMessage, or a webhook), "update" (chat.update of ``ts``) or
    #: "ephemeral" (chat.postEphemeral to ``extra["user"]``).
    method: str = "post"
    ts: str = ""


#: Messages "sent" through :class:`LocmemBackend` in this process, oldest first.
outbox: list[OutboxMessage] = []

#: Slack users :meth:`LocmemBackend.user_info` knows, by id (Slack's ``user`` objects).
users: dict[str, JSONObject] = {}


class LocmemBackend(BaseBackend):
    """Appends each message to :data:`outbox` instead of sending it."""

    def send(self, channel: str, text: str, **extra: object) -> SlackResult:
        ts = f"locmem.{len(outbox) + 1}"
        outbox.append(OutboxMessage(channel=channel, text=text, extra=dict(extra), ts=ts))
        return SlackResult(
            channel=channel, response_text="ok", ts=ts, data={"ok": True, "channel": channel}
        )

    def update(self, channel: str, ts: str, text: str, **extra: object) -> SlackResult:
        outbox.append(
            OutboxMessage(channel=channel, text=text, extra=dict(extra), method="update", ts=ts)
        )
        return SlackResult(
            channel=channel, response_text="ok", ts=ts, data={"ok": True, "channel": channel}
        )

    def post_ephemeral(self, channel: str, user: str, text: str) -> SlackResult:
        outbox.append(
            OutboxMessage(channel=channel, text=text, extra={"user": user}, method="ephemeral")
        )
        return SlackResult(channel=channel, response_text="ok", data={"ok": True})

    def user_info(self, user: str) -> JSONObject:
        if user not in users:
            raise SlackPermanentError(
                f"Slack refused the message (user_not_found: {user})", error="user_not_found"
            )
        return dict(users[user])
