"""Clicks on a message's buttons, signed and posted as Slack does, for the tests.

Slack posts an interaction to the app's Request URL as a form, ``payload=<JSON>``, signed
with the app's signing secret: ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature:
v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")`` (hex). The payload of a click on a
message's button (``block_actions``) carries the user, the channel, the message as Slack
shows it, a ``response_url`` and the action, as below (Slack's documented shape)::

    click = Click.on(message, "acknowledge", user=ALICE)    # a FakeMessage with our buttons
    status, body = post_click(url, click.body(), click.headers(secret))
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.fake_slack import FakeMessage


@dataclass(frozen=True)
class SlackUser:
    id: str
    username: str
    team_id: str = "T0FAKE"


ALICE = SlackUser("U0ALICE", "alice")
BOB = SlackUser("U0BOB", "bob")


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with ``body``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


def our_element(message_blocks: list[Any], action: str) -> tuple[str, dict[str, Any]]:
    """The block id and the element of ``action`` (``dsr_<action>``) in a message's blocks."""
    for block in message_blocks or []:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements") or []:
            if element.get("action_id") == f"dsr_{action}":
                return block["block_id"], element
    raise AssertionError(f"the message has no {action} element: {message_blocks}")


@dataclass
class Click:
    """One ``block_actions`` interaction."""

    channel_id: str
    message_ts: str
    message: dict[str, Any]
    block_id: str
    element: dict[str, Any]
    user: SlackUser = ALICE
    option: str | None = None  # a select's chosen value
    action_ts: float = field(default_factory=time.time)
    trigger_id: str = field(
        default_factory=lambda: f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"
    )

    @classmethod
    def on(
        cls,
        message: FakeMessage,
        action: str,
        *,
        user: SlackUser = ALICE,
        option: str | None = None,
    ) -> Click:
        return cls.on_message(
            message.channel,
            message.ts,
            message.text,
            message.blocks,
            action,
            user=user,
            option=option,
        )

    @classmethod
    def on_message(
        cls,
        channel_id: str,
        ts: str,
        text: str,
        blocks: list[Any] | None,
        action: str,
        *,
        user: SlackUser = ALICE,
        option: str | None = None,
    ) -> Click:
        """A click on ``action``'s element of the message ``ts`` in ``channel_id``."""
        block_id, element = our_element(blocks or [], action)
        shown: dict[str, Any] = {"type": "message", "text": text, "ts": ts, "user": "U0BOT"}
        if blocks:
            shown["blocks"] = blocks
        return cls(channel_id, ts, shown, block_id, element, user, option)

    @classmethod
    def raw(
        cls, channel_id: str, message_ts: str, block_id: str, action_id: str, **kwargs: Any
    ) -> Click:
        """A click on any element (e.g. one this package never made)."""
        element = {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": "X"},
        }
        message = {"type": "message", "text": "", "ts": message_ts}
        return cls(channel_id, message_ts, message, block_id, element, **kwargs)

    def payload(self) -> dict[str, Any]:
        action: dict[str, Any] = {
            "type": self.element.get("type", "button"),
            "action_id": self.element["action_id"],
            "block_id": self.block_id,
            "action_ts": f"{self.action_ts:.6f}",
        }
        if action["type"] == "static_select":
            [chosen] = [o for o in self.element["options"] if o["value"] == self.option]
            action["selected_option"] = chosen
            action["placeholder"] = self.element.get("placeholder")
        else:
            action["text"] = self.element.get("text")
            if "value" in self.element:
                action["value"] = self.element["value"]
            if "style" in self.element:
                action["style"] = self.element["style"]
        return {
            "type": "block_actions",
            "user": {
                "id": self.user.id,
                "username": self.user.username,
                "name": self.user.username,
                "team_id": self.user.team_id,
            },
            "api_app_id": "A0FAKEAPP",
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": self.message_ts,
                "channel_id": self.channel_id,
                "is_ephemeral": False,
            },
            "trigger_id": self.trigger_id,
            "team": {"id": self.user.team_id, "domain": "fake"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": self.channel_id, "name": "web"},
            "message": self.message,
            "state": {"values": {}},
            "response_url": "https://hooks.slack.com/actions/T0FAKE/1234567890/abcdefABCDEF",
            "actions": [action],
        }

    def body(self) -> bytes:
        return urlencode({"payload": json.dumps(self.payload())}).encode()

    def headers(self, secret: str, timestamp: int | None = None) -> dict[str, str]:
        return sign(self.body(), secret, timestamp)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 10.0) -> tuple[int, str]:
    """POST ``body``; Slack's view of the answer: the status and the body."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
