"""A backend that prints messages, for development."""

from __future__ import annotations

import sys
import threading
from typing import IO

from .base import BaseBackend, SlackResult

_lock = threading.Lock()


class ConsoleBackend(BaseBackend):
    """Writes each message to ``stream`` (default: standard output)."""

    def __init__(self, stream: IO[str] | None = None, **options: object) -> None:
        super().__init__(**options)
        self.stream = stream

    def send(self, channel: str, text: str, **extra: object) -> SlackResult:
        stream = self.stream or sys.stdout
        rule = "-" * 72
        with _lock:
            stream.write(f"{rule}\nSlack message to {channel}\n{rule}\n{text}\n{rule}\n")
            stream.flush()
        return SlackResult(channel=channel, response_text="ok")

    def update(self, channel: str, ts: str, text: str, **extra: object) -> SlackResult:
        stream = self.stream or sys.stdout
        rule = "-" * 72
        with _lock:
            stream.write(
                f"{rule}\nSlack message {ts} in {channel} updated\n{rule}\n{text}\n{rule}\n"
            )
            stream.flush()
        return SlackResult(channel=channel, response_text="ok", ts=ts)

    def post_ephemeral(self, channel: str, user: str, text: str) -> SlackResult:
        stream = self.stream or sys.stdout
        rule = "-" * 72
        with _lock:
            stream.write(f"{rule}\nTo {user} only, in {channel}\n{rule}\n{text}\n{rule}\n")
            stream.flush()
        return SlackResult(channel=channel, response_text="ok")
