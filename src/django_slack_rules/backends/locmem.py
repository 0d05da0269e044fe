"""A backend that keeps messages in memory, for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import BaseBackend, SlackResult


@dataclass
class OutboxMessage:
    channel: str
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


#: Messages "sent" through :class:`LocmemBackend` in this process, oldest first.
outbox: list[OutboxMessage] = []


class LocmemBackend(BaseBackend):
    """Appends each message to :data:`outbox` instead of sending it."""

    def send(self, channel: str, text: str, **extra: Any) -> SlackResult:
        outbox.append(OutboxMessage(channel=channel, text=text, extra=dict(extra)))
        return SlackResult(channel=channel, response_text="ok", ts=f"locmem.{len(outbox)}")
