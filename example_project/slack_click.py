"""A click on a message's button, posted to the app's Request URL as Slack posts it.

Slack sends an interaction as a form, ``payload=<JSON>``, signed with the Slack app's
signing secret: ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature: v0=`` the hex
HMAC-SHA256 of ``v0:{timestamp}:{body}``. A click on a button of a message
(``block_actions``) names the user, the channel, the message as Slack shows it and the
element clicked. The demo's fake Slack uses it to "click" *Acknowledge*; the package's
view (``django_slack_rules:slack-actions``, ``/slack/actions/`` here) verifies and takes it.
Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from slack_web_api import SlackMessage, SlackUser


def find_element(message: SlackMessage, action_id: str) -> tuple[str, dict[str, Any]] | None:
    """The block id and the element ``action_id`` (e.g. ``dsr_acknowledge``) of a message's
    buttons, or None when it has no such element."""
    for block in message.blocks or []:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return str(block.get("block_id") or ""), element
    return None


def click_payload(message: SlackMessage, action_id: str, user: SlackUser) -> dict[str, Any]:
    """What Slack posts when ``user`` clicks the button ``action_id`` of ``message``."""
    found = find_element(message, action_id)
    if found is None:
        raise LookupError(f"the message {message.ts} has no element {action_id!r}")
    block_id, element = found
    now = f"{time.time():.6f}"
    return {
        "type": "block_actions",
        "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id},
        "team": {"id": user.team_id, "domain": "demo"},
        "api_app_id": "A0DEMO",
        "trigger_id": f"{int(time.time())}.1.demo",
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel_id,
            "is_ephemeral": False,
        },
        "channel": {"id": message.channel_id, "name": message.channel.lstrip("#")},
        "message": {
            "type": "message",
            "ts": message.ts,
            "text": message.text,
            "blocks": message.blocks,
        },
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0DEMO/1/demo",
        "actions": [
            {
                "type": element.get("type", "button"),
                "action_id": action_id,
                "block_id": block_id,
                "text": element.get("text"),
                "value": element.get("value", ""),
                "action_ts": now,
            }
        ],
    }


def signed(body: bytes, secret: str) -> dict[str, str]:
    """The headers Slack sends with ``body``: the timestamp and the ``v0`` signature."""
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }


def click(
    url: str, message: SlackMessage, action_id: str, user: SlackUser, secret: str
) -> tuple[int, str]:
    """POST the signed click to the Request URL ``url``; Slack's view of the answer."""
    body = urlencode({"payload": json.dumps(click_payload(message, action_id, user))}).encode()
    request = urllib.request.Request(url, data=body, headers=signed(body, secret), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode(errors="replace")
