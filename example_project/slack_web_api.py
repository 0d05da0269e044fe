"""The demo's fake Slack Web API: what a bot token's calls get from Slack, in memory.

Bot mode (``SLACK_RULES["GATEWAY_MODE"] = "bot"``): the package POSTs ``chat.postMessage``
to ``SLACK_INTERNAL_ENDPOINT`` and the other methods to ``SLACK_INTERNAL_ENDPOINT +
"<method>"`` (``chat.update``; for a click on a button, ``users.info`` and
``chat.postEphemeral``); nginx adds the token and forwards them to Slack. Here each call is
answered as Slack answers it: ``{"ok": true, "channel": "C…", "ts": "…"}``, a thread reply
keeps its ``thread_ts``, an update replaces a message found by channel id and ``ts``,
``users.info`` tells the profile (and email) of one of the workspace's :class:`SlackUser`.

One method per Slack API method, dispatched by name (:data:`WebAPI.methods`): to fake another
one, add a method and a line there. Standard library only.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: What each kind of call did, as the printer shows it.
POST, REPLY, UPDATE, EPHEMERAL = "post", "reply", "update", "ephemeral"


@dataclass(frozen=True)
class SlackUser:
    """A person in the workspace, as ``users.info`` describes them."""

    id: str
    name: str
    email: str
    team_id: str = "T0DEMO"


@dataclass
class SlackMessage:
    """One message as Slack keeps it (and as the demo prints it)."""

    channel: str  # as the package named it: "#db-team", or the channel id of an update
    text: str
    received_at: datetime.datetime
    ts: str = ""
    channel_id: str = ""
    thread_ts: str = ""  # a thread reply: the ts of the message it replies to
    kind: str = POST  # POST, REPLY, UPDATE or EPHEMERAL
    blocks: list[Any] | None = None
    edits: list[str] = field(default_factory=list)  # earlier texts of an updated message
    user: str = ""  # an ephemeral message: the only user who sees it


class WebAPIError(Exception):
    """Slack's ``{"ok": false, "error": …}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


#: Slack's JSON answer to a call, and the message it made or changed (None: it made none).
Answer = tuple[dict[str, Any], "SlackMessage | None"]


def channel_id(name: str) -> str:
    """A stable, Slack-shaped id for a channel name ("#db-team" → "C…")."""
    if name[:1] in "CDG" and name[1:].isalnum() and name.isupper():
        return name
    return "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()


class WebAPI:
    """Slack's Web API for one workspace: channels by name and id, messages by ts."""

    def __init__(self, users: list[SlackUser] | None = None) -> None:
        self.messages: dict[tuple[str, str], SlackMessage] = {}
        self.names: dict[str, str] = {}  # channel id -> the name it was first posted as
        self.users = {user.id: user for user in users or []}
        self._lock = threading.Lock()
        self._last_ts = 0.0
        #: Slack API method name -> the method that answers it.
        self.methods: dict[str, Callable[[dict[str, Any]], Answer]] = {
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.postEphemeral": self.post_ephemeral,
            "users.info": self.users_info,
        }

    def call(self, method: str, payload: dict[str, Any]) -> Answer:
        """Answer one call: Slack's JSON answer and the message it made or changed (None for
        a method that reads). Raises :class:`WebAPIError` (``unknown_method``...)."""
        answer = self.methods.get(method)
        if answer is None:
            raise WebAPIError("unknown_method")
        with self._lock:
            return answer(payload)

    def _next_ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def post_message(self, payload: dict[str, Any]) -> Answer:
        """``chat.postMessage``: a new message, or a reply when ``thread_ts`` names one."""
        name = str(payload.get("channel") or "")
        text = str(payload.get("text") or "")
        if not name:
            raise WebAPIError("channel_not_found")
        if not text and not payload.get("blocks"):
            raise WebAPIError("no_text")
        cid = channel_id(name)
        self.names.setdefault(cid, name)
        thread_ts = str(payload.get("thread_ts") or "")
        if thread_ts and (cid, thread_ts) not in self.messages:
            raise WebAPIError("thread_not_found")
        message = SlackMessage(
            channel=self.names[cid],
            text=text,
            received_at=datetime.datetime.now(),
            ts=self._next_ts(),
            channel_id=cid,
            thread_ts=thread_ts,
            kind=REPLY if thread_ts else POST,
            blocks=payload.get("blocks"),
        )
        self.messages[(cid, message.ts)] = dataclasses.replace(message)  # kept apart: updates
        answer = {"ok": True, "channel": cid, "ts": message.ts, "message": {"text": text}}
        return answer, message

    def update(self, payload: dict[str, Any]) -> Answer:
        """``chat.update``: replace the text of the message ``ts`` in the channel id."""
        cid, ts = str(payload.get("channel") or ""), str(payload.get("ts") or "")
        original = self.messages.get((cid, ts))
        if original is None:
            raise WebAPIError("message_not_found" if cid in self.names else "channel_not_found")
        original.edits.append(original.text)
        original.text = str(payload.get("text") or "")
        if "blocks" in payload:
            original.blocks = payload["blocks"]
        shown = SlackMessage(
            channel=original.channel,
            text=original.text,
            received_at=datetime.datetime.now(),
            ts=ts,
            channel_id=cid,
            kind=UPDATE,
            blocks=original.blocks,
        )
        return {"ok": True, "channel": cid, "ts": ts, "text": original.text}, shown

    def post_ephemeral(self, payload: dict[str, Any]) -> Answer:
        """``chat.postEphemeral``: a message only ``user`` sees, in a channel (by id), never
        kept."""
        cid, user = str(payload.get("channel") or ""), str(payload.get("user") or "")
        if cid not in self.names:
            raise WebAPIError("channel_not_found")
        if user not in self.users:
            raise WebAPIError("user_not_found")
        message = SlackMessage(
            channel=self.names[cid],
            text=str(payload.get("text") or ""),
            received_at=datetime.datetime.now(),
            channel_id=cid,
            kind=EPHEMERAL,
            user=user,
        )
        return {"ok": True, "message_ts": self._next_ts()}, message

    def users_info(self, payload: dict[str, Any]) -> Answer:
        """``users.info``: who a user id is, with the email (scope ``users:read.email``)."""
        user = self.users.get(str(payload.get("user") or ""))
        if user is None:
            raise WebAPIError("user_not_found")
        profile = {"email": user.email, "real_name": user.name, "display_name": user.name}
        info = {"id": user.id, "team_id": user.team_id, "name": user.name, "profile": profile}
        return {"ok": True, "user": info}, None
