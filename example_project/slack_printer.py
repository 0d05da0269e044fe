"""A local fake Slack that prints each message the way Slack would show it.

It plays the role of nginx and Slack together. In webhook mode (the default) it answers the
package's POST to ``SLACK_INTERNAL_ENDPOINT`` (``{"channel": …, "text": …}``) with an
incoming webhook's ``200 ok``; in bot mode (``--bot``) it answers ``chat.postMessage`` there
and ``chat.update``, ``chat.postEphemeral`` and ``users.info`` at ``…/<method>`` as Slack's
Web API does (``slack_web_api.py``), so thread replies, updates and the answers to a click
show. It renders each message: mentions (``<!here>``), links (``<url|label>``), dates
(``<!date^…|fallback>``), ``*bold*``, quotes, a few emoji, Slack's ``&amp;``/``&lt;``/``&gt;``
escapes, and a message's buttons and context lines.

Standalone: ``python slack_printer.py [--port 8787] [--bot]``, then point
``SLACK_INTERNAL_ENDPOINT`` at ``http://127.0.0.1:8787/slack-proxy/`` (and, with ``--bot``,
set ``SLACK_GATEWAY_MODE=bot`` for the example). Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl

from slack_web_api import EPHEMERAL, REPLY, UPDATE, SlackMessage, SlackUser, WebAPI, WebAPIError

EMOJI = {
    "rotating_light": "🚨",
    "red_circle": "🔴",
    "large_green_circle": "🟢",
    "white_check_mark": "✅",
    "warning": "⚠️",
    "fire": "🔥",
    "bell": "🔔",
    "no_bell": "🔕",
}
MENTIONS = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}
FORM = "application/x-www-form-urlencoded"


#: Where the gateway takes each Web API method (bot mode): the path after /slack-proxy/.
API_PATHS = {
    "": "chat.postMessage",
    **{method: method for method in ("chat.update", "chat.postEphemeral", "users.info")},
}


def render(text: str, *, color: bool = False, names: dict[str, str] | None = None) -> str:
    """Slack's mrkdwn as a terminal shows it; ``names``: user id → name, for ``<@U…>``."""
    bold = ("\033[1m", "\033[0m") if color else ("", "")
    link = ("\033[4m", "\033[0m") if color else ("", "")

    def special(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("!date^"):  # a date each reader sees in their time zone
            return inner.rsplit("|", 1)[-1]
        if inner.startswith("!"):
            name = inner[1:].split("|", 1)[0]
            return bold[0] + MENTIONS.get(name, "@" + name) + bold[1]
        if inner.startswith(("#", "@")):  # <#C123|general>, <@U123>
            label = inner.split("|", 1)[-1].lstrip("#@")
            return inner[0] + (names or {}).get(label, label)
        url, _, label = inner.partition("|")
        return f"{link[0]}{label}{link[1]} ({url})" if label else f"{link[0]}{url}{link[1]}"

    text = re.sub(r"<([^<>]+)>", special, text)
    text = re.sub(r":([a-z0-9_+\-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    if color:
        text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", rf"{bold[0]}\1{bold[1]}", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    lines = [
        ("▌ " + line[1:].lstrip()) if line.startswith(">") else line for line in text.split("\n")
    ]
    return "\n".join(lines)


def format_message(
    message: SlackMessage, *, color: bool = False, names: dict[str, str] | None = None
) -> str:
    """A message block: the channel, the app's name and time, then the rendered text."""
    when = message.received_at.strftime("%H:%M:%S")
    what = {
        REPLY: f"  ↳ thread reply to {message.thread_ts}",
        UPDATE: f"  ✎ update of {message.ts}",
        EPHEMERAL: f"  (only visible to @{message.user})",
    }.get(message.kind, f"  (ts {message.ts})" if message.ts else "")
    head = f"{message.channel}  ·  django-slack-rules  APP  {when}{what}"
    if color:
        head = (
            f"\033[1;35m{message.channel}\033[0m  ·  \033[1mdjango-slack-rules\033[0m  APP  "
            f"{when}{what}"
        )
    body = render(message.text, color=color, names=names).split("\n")
    body += block_lines(message.blocks, color, names)
    return "\n".join([f"┌ {head}", *[f"│ {line}" for line in body], "└"])


def block_lines(blocks: list[Any] | None, color: bool, names: dict[str, str] | None) -> list[str]:
    """What a message's blocks add below its text: its context lines, and its buttons as
    ``[ Acknowledge ]  [ Silence for… ▾ ]``. (Its sections repeat the text here.)"""
    lines = []
    for block in blocks or []:
        if block.get("type") == "context":
            for element in block.get("elements") or []:
                lines += render(str(element.get("text") or ""), color=color, names=names).split(
                    "\n"
                )
        elif block.get("type") == "actions":
            lines.append("  ".join(button(element) for element in block.get("elements") or []))
    return lines


def button(element: dict[str, Any]) -> str:
    text = element.get("text") or element.get("placeholder") or {}
    label = str(text.get("text") if isinstance(text, dict) else text)
    if element.get("type") == "static_select":
        label += " ▾"
    elif element.get("url"):
        label += " ↗"
    return f"[ {label} ]"


class SlackPrinter:
    """An HTTP server on 127.0.0.1 that records (and optionally prints) every message."""

    def __init__(
        self,
        port: int = 0,
        on_message: Callable[[SlackMessage], None] | None = None,
        *,
        bot: bool = False,
        users: list[SlackUser] | None = None,
    ):
        self.on_message = on_message
        self.messages: list[SlackMessage] = []
        #: Bot mode: Slack's Web API (chat.postMessage, chat.update…), with the workspace's
        #: ``users``; else incoming webhooks.
        self.api = WebAPI(users) if bot else None
        self._cond = threading.Condition()
        printer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    if self.headers.get("Content-Type", "").startswith(FORM):
                        data: Any = dict(parse_qsl(body.decode()))  # Slack's read methods
                    else:
                        data = json.loads(body)
                    if not isinstance(data, dict):
                        raise ValueError
                except ValueError:
                    self._answer(400, b"invalid_payload")
                    return
                path = self.path.split("?", 1)[0]
                if not path.startswith("/slack-proxy/"):
                    self._answer(404, b"proxy_unknown_path")
                    return
                rest = path[len("/slack-proxy/") :]
                if printer.api is not None:
                    self._web_api(rest, data)
                elif rest:
                    self._answer(404, b"proxy_unknown_path")
                elif "text" not in data:
                    self._answer(400, b"no_text")
                else:
                    channel = data.get("channel") or self.headers.get("X-Slack-Channel")
                    printer._record(
                        SlackMessage(str(channel), str(data["text"]), datetime.datetime.now())
                    )
                    self._answer(200, b"ok")

            def _web_api(self, rest: str, data: dict[str, Any]) -> None:
                assert printer.api is not None
                method = API_PATHS.get(rest)
                if method is None:  # the gateway relays nothing else
                    self._answer(404, b"proxy_unknown_path")
                    return
                try:
                    answer, message = printer.api.call(method, data)
                except WebAPIError as exc:
                    answer, message = {"ok": False, "error": exc.error}, None
                if message is not None:
                    printer._record(message)
                self._answer(200, json.dumps(answer).encode(), "application/json")

            def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the messages themselves are the output."""

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def names(self) -> dict[str, str]:
        """The workspace's user names by id (bot mode), for :func:`format_message`."""
        return {user.id: user.name for user in self.api.users.values()} if self.api else {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> SlackPrinter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _record(self, message: SlackMessage) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()
        if self.on_message is not None:
            self.on_message(message)

    def wait_for(self, count: int, timeout: float) -> list[SlackMessage]:
        """Wait (at most ``timeout`` seconds) until ``count`` messages arrived; return them all."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument(
        "--bot", action="store_true", help="answer as Slack's Web API (GATEWAY_MODE bot)"
    )
    args = parser.parse_args()
    color = sys.stdout.isatty()

    def show(message: SlackMessage) -> None:
        print(format_message(message, color=color), flush=True)

    printer = SlackPrinter(args.port, on_message=show, bot=args.bot).start()
    print(f"Fake Slack listening: SLACK_INTERNAL_ENDPOINT={printer.url}/slack-proxy/", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        printer.stop()


if __name__ == "__main__":
    main()
