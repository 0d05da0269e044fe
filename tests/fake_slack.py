"""A small fake Slack HTTP(S) server for the test suite.

It stands in for Slack (incoming webhooks or the Web API) or for an internal
proxy in front of it.  It records every request it receives and answers on
cue from a FIFO queue of canned responses::

    with FakeSlack() as slack:
        slack.respond_rate_limited(retry_after=3)
        send_something(webhook_url=slack.url + "/services/T000/B000/XXX")
        first, second = slack.wait_for_requests(2)

With ``api_mode=True`` it keeps the messages it accepted, as Slack does: each
``chat.postMessage`` gets a ``ts`` and the channel's id (``"#web"`` becomes a
stable ``C…`` id), a ``thread_ts`` makes it a reply in that thread, and
``chat.update`` (a path ending ``chat.update``) replaces a message's text and
blocks, or answers ``message_not_found``. Blocks Slack would refuse (an
unknown type, more than 50, section text over 3,000 characters) are answered
``invalid_blocks`` with ``response_metadata.messages``::

    with FakeSlack(api_mode=True) as slack:
        ...
        [first] = slack.messages("#web")           # top-level messages, oldest first
        [reply] = slack.replies("#web", first.ts)  # its thread
        assert first.edits                         # texts it had before each update

In api_mode it also answers what a click on a button needs: ``users.info`` (a form
body ``user=U…``) from the users added with :meth:`FakeSlack.add_user` (else
``user_not_found``), and ``chat.postEphemeral``, kept apart as :meth:`FakeSlack.ephemerals`::

    slack.add_user("U0ALICE", email="alice@example.com", name="alice")
    ...
    [answer] = slack.ephemerals()                # to one user, never a message in the channel

With ``channel_limit=ChannelLimit(rate=1, burst=5)`` (or :meth:`FakeSlack.limit_channels`)
it paces each channel as Slack does: beyond the burst, more than ``rate`` messages per
second get ``429`` with ``Retry-After``, and a request for a channel during its
Retry-After window is recorded (an app that keeps sending there risks its token)::

    with FakeSlack(channel_limit=ChannelLimit(rate=1, burst=5)) as slack:
        ...
        assert slack.rate_limited == [] and slack.inside_retry_after == []

Standard library only.  The server binds to 127.0.0.1, serves each connection
in a daemon thread, speaks HTTP/1.1 with keep-alive, and never writes to
stderr for ordinary traffic.  Nothing here sleeps: slow answers wait on an
event that :meth:`FakeSlack.stop` sets, so stopping is always prompt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import socket
import ssl
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.processes import Service

__all__ = [
    "CannedResponse",
    "ChannelLimit",
    "FakeEphemeral",
    "FakeMessage",
    "FakeSlack",
    "RecordedRequest",
]

_HOST = "127.0.0.1"
# Upper bound for how long stop() waits for the serving thread.
_STOP_JOIN_TIMEOUT = 4.0
# Idle keep-alive connections are dropped after this many seconds.
_CONNECTION_TIMEOUT = 30.0
# First ``ts`` handed out in api_mode, in microseconds (1700000000.000100).
_TS_START_MICROS = 1_700_000_000_000_100
_TS_STEP_MICROS = 100
_MAX_LINE = 65_537
#: Block types Slack knows (the fake refuses others with invalid_blocks).
_BLOCK_TYPES = frozenset(
    {
        "actions", "context", "divider", "file", "header", "image", "input", "markdown",
        "rich_text", "section", "table", "video", "call",
    }
)  # fmt: skip
_MAX_BLOCKS = 50
_SECTION_TEXT_MAX = 3000
_HEADER_TEXT_MAX = 150
_CHANNEL_ID_RE = re.compile(r"^[CGD][A-Z0-9]+$")


@dataclass
class FakeMessage:
    """A message the fake Slack accepted (api_mode)."""

    channel: str  # the channel's id
    ts: str
    text: str
    blocks: list[Any] | None = None
    thread_ts: str = ""  # set on a thread reply: its parent's ts
    reply_broadcast: bool = False
    #: (text, blocks) the message had before each chat.update, oldest first.
    edits: list[tuple[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class FakeEphemeral:
    """A ``chat.postEphemeral``: shown to ``user`` alone, in ``channel`` (an id)."""

    channel: str
    user: str
    text: str


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake server received it."""

    method: str
    path: str  # includes the query string, if any
    headers: dict[str, str]  # header names lower-cased
    body: bytes
    received_at: float  # time.monotonic() when the body had been read

    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise ValueError(
                f"{self.method} {self.path}: body is not JSON ({exc}): {self.body[:200]!r}"
            ) from exc

    def summary(self) -> str:
        """A one-line description, for assertion messages."""
        preview = self.body[:80].decode("utf-8", errors="replace")
        if len(self.body) > 80:
            preview += "..."
        return f"{self.method} {self.path} ({len(self.body)} bytes) {preview!r}"


@dataclass(frozen=True)
class ChannelLimit:
    """Slack's pace per channel: ``rate`` messages per second, ``burst`` at once."""

    rate: float = 1.0
    burst: int = 5


class _ChannelLimiter:
    """GCRA per channel at the time each request arrives, and each channel's Retry-After
    window (called with the fake's lock held)."""

    def __init__(self, limit: ChannelLimit) -> None:
        self.limit = limit
        self.tat: dict[str, float] = {}
        self.window_until: dict[str, float] = {}

    def in_window(self, channel: str, now: float) -> bool:
        return now < self.window_until.get(channel, 0.0)

    def retry_after(self, channel: str, now: float) -> int | None:
        """None when the request conforms (and takes its slot); else the whole seconds of
        the Retry-After answered, whose window starts now."""
        interval = 1.0 / self.limit.rate
        tolerance = (self.limit.burst - 1) * interval
        tat = self.tat.get(channel, 0.0)
        if tat <= now + tolerance:
            self.tat[channel] = max(tat, now) + interval
            return None
        seconds = max(1, math.ceil(tat - tolerance - now))
        self.window_until[channel] = max(self.window_until.get(channel, 0.0), now + seconds)
        return seconds


@dataclass(frozen=True)
class CannedResponse:
    """A response queued with :meth:`FakeSlack.queue_response`."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "text/plain"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeSlack, port: int) -> None:
        self.fake = fake
        super().__init__((_HOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up, timeouts, TLS failures and anything that happens
        # while stopping are expected; real bugs in the fake still get printed.
        exc = sys.exc_info()[1]
        if self.fake.stopping or isinstance(exc, (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _CONNECTION_TIMEOUT
    # Headers and body go out in separate writes; without TCP_NODELAY every
    # keep-alive answer would stall ~40 ms on Nagle + delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._register_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._unregister_connection(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: no per-request lines on stderr."""

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler dispatches to ``do_<METHOD>``; answer them all.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        fake = self.server.fake
        try:
            body = self._read_body()
        except ValueError as exc:
            self.send_error(400, f"bad request body: {exc}")
            return
        if body is None:  # the client went away mid-body
            self.close_connection = True
            return
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers=self._plain_headers(),
            body=body,
            received_at=time.monotonic(),
        )
        response = fake._record_and_pick_response(request)
        if response.delay > 0 and fake._stop_event.wait(response.delay):
            # Stopped while answering slowly: just hang up.
            self.close_connection = True
            return
        if fake.stopping:
            self.close_connection = True
            return
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _plain_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return headers

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            raise ValueError(f"invalid Content-Length {raw_length!r}") from None
        if length < 0:
            raise ValueError(f"invalid Content-Length {raw_length!r}")
        body = self.rfile.read(length)
        return body if len(body) == length else None

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(_MAX_LINE)
            if not line:
                return None
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ValueError(f"invalid chunk size line {line!r}") from None
            if size == 0:
                break
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                return None
            chunks.append(chunk)
            self.rfile.readline(_MAX_LINE)  # CRLF after the chunk
        while True:  # trailers, up to the blank line
            line = self.rfile.readline(_MAX_LINE)
            if line in (b"", b"\r\n", b"\n"):
                break
        return b"".join(chunks)

    def _send(self, response: CannedResponse) -> None:
        headers = {"Content-Type": response.content_type}
        for name, value in response.headers.items():
            for existing in [k for k in headers if k.lower() == name.lower()]:
                del headers[existing]
            if name.lower() != "content-length":
                headers[name] = value
        no_body = self.command == "HEAD" or response.status in (204, 304)
        if response.status in (204, 304):
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        if response.status not in (204, 304):
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not no_body:
            self.wfile.write(response.body)
        self.wfile.flush()


class FakeSlack(Service):
    """A fake Slack (webhook or Web API) server on 127.0.0.1.

    Each request consumes the next queued response; with the queue empty it
    gets the default answer: ``200 ok`` (text/plain) like an incoming webhook,
    or with ``api_mode=True`` a Web API success,
    ``{"ok": true, "channel": ..., "ts": "1700000000.000100"}``.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        api_mode: bool = False,
        port: int = 0,
        channel_limit: ChannelLimit | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.api_mode = api_mode
        self._limiter = None if channel_limit is None else _ChannelLimiter(channel_limit)
        self._rate_limited: list[RecordedRequest] = []
        self._inside_retry_after: list[RecordedRequest] = []
        self._requested_port = port
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._queue: deque[CannedResponse] = deque()
        self._ts_micros = _TS_START_MICROS
        self._messages: dict[tuple[str, str], FakeMessage] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._ephemerals: list[FakeEphemeral] = []
        self._stop_event = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._started = False

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FakeSlack:
        """Bind a port and start serving in a daemon thread."""
        with self._cond:
            if self._started:
                raise RuntimeError("FakeSlack can only be started once; create a new one")
            self._started = True
        server = _Server(self, self._requested_port)
        if self.ssl_context is not None:
            # The handshake then happens in the connection's own thread, so a
            # client failing TLS never blocks the accept loop.
            server.socket = self.ssl_context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeSlack-{server.server_address[1]}",
            daemon=True,
        )
        self._server = server
        self._thread = thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections.  Bounded; safe to repeat."""
        with self._cond:
            if self._stop_event.is_set():
                return
            self._stop_event.set()  # wakes slow answers
            self._cond.notify_all()
            server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        if thread.is_alive():
            server.shutdown()  # returns within one poll interval
        server.server_close()
        with self._cond:
            connections = list(self._connections)
        for conn in connections:
            self._hang_up(conn)
        thread.join(timeout=_STOP_JOIN_TIMEOUT)

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    # -- addresses ---------------------------------------------------------

    @property
    def host(self) -> str:
        return _HOST

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    # -- recorded requests -------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._cond:
            return list(self._requests)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests arrived; return the snapshot.

        Raises AssertionError if they have not all arrived within ``timeout``.
        """
        with self._cond:
            self._cond.wait_for(lambda: len(self._requests) >= count, timeout=timeout)
            received = list(self._requests)
        if len(received) >= count:
            return received
        summary = "; ".join(r.summary() for r in received[:10]) or "nothing"
        if len(received) > 10:
            summary += f"; ... and {len(received) - 10} more"
        raise AssertionError(
            f"FakeSlack: expected at least {count} request(s) within {timeout}s, "
            f"but {len(received)} arrived: {summary}"
        )

    def reset(self) -> None:
        """Forget recorded requests and messages, drop queued responses and the channel
        limit (:meth:`limit_channels`)."""
        with self._cond:
            self._requests.clear()
            self._queue.clear()
            self._messages.clear()
            self._users.clear()
            self._ephemerals.clear()
            self._limiter = None
            self._rate_limited.clear()
            self._inside_retry_after.clear()

    # -- users and ephemeral answers (api_mode) ----------------------------

    def add_user(
        self, user_id: str, *, email: str | None = None, name: str = "", real_name: str = ""
    ) -> None:
        """A workspace member ``users.info`` knows; without ``email`` it answers as Slack
        does when the app lacks ``users:read.email`` (no ``profile.email``)."""
        profile: dict[str, Any] = {"real_name": real_name or name, "display_name": name}
        if email is not None:
            profile["email"] = email
        with self._cond:
            self._users[user_id] = {
                "id": user_id,
                "team_id": "T0FAKE",
                "name": name,
                "real_name": real_name or name,
                "deleted": False,
                "profile": profile,
            }

    def ephemerals(self) -> list[FakeEphemeral]:
        """The ephemeral messages posted so far, oldest first."""
        with self._cond:
            return list(self._ephemerals)

    # -- Slack's pace per channel ------------------------------------------

    def limit_channels(self, rate: float = 1.0, burst: int = 5) -> None:
        """From now on, pace every channel as ``ChannelLimit(rate, burst)`` (fresh buckets)."""
        with self._cond:
            self._limiter = _ChannelLimiter(ChannelLimit(rate, burst))

    @property
    def rate_limited(self) -> list[RecordedRequest]:
        """The requests answered 429 by the channel limit, oldest first."""
        with self._cond:
            return list(self._rate_limited)

    @property
    def inside_retry_after(self) -> list[RecordedRequest]:
        """The requests for a channel while its Retry-After window was open."""
        with self._cond:
            return list(self._inside_retry_after)

    # -- what Slack holds (api_mode) ---------------------------------------

    @staticmethod
    def channel_id(channel: str) -> str:
        """The id Slack answers for ``channel``: an id as it is, a name as a stable ``C…`` id."""
        if _CHANNEL_ID_RE.match(channel):
            return channel
        digest = hashlib.sha1(channel.lstrip("#").encode()).hexdigest()[:10].upper()
        return f"C{digest}"

    def messages(self, channel: str | None = None) -> list[FakeMessage]:
        """Top-level messages (in ``channel``, a name or an id), oldest first."""
        wanted = None if channel is None else self.channel_id(channel)
        with self._cond:
            found = [m for m in self._messages.values() if not m.thread_ts]
        return sorted((m for m in found if wanted in (None, m.channel)), key=lambda m: float(m.ts))

    def replies(self, channel: str, thread_ts: str) -> list[FakeMessage]:
        """The thread of ``thread_ts`` in ``channel``, oldest first (without its parent)."""
        wanted = self.channel_id(channel)
        with self._cond:
            found = [
                m
                for m in self._messages.values()
                if m.channel == wanted and m.thread_ts == thread_ts
            ]
        return sorted(found, key=lambda m: float(m.ts))

    def message(self, channel: str, ts: str) -> FakeMessage | None:
        with self._cond:
            return self._messages.get((self.channel_id(channel), ts))

    # -- canned responses --------------------------------------------------

    @property
    def pending_responses(self) -> int:
        """How many queued responses have not been consumed yet."""
        with self._cond:
            return len(self._queue)

    def queue_response(
        self,
        status: int = 200,
        body: str | bytes = "ok",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        content_type: str = "text/plain",
        times: int = 1,
    ) -> None:
        """Queue a canned response for the next request(s).

        ``headers`` may override Content-Type; Content-Length is always computed.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        response = CannedResponse(
            status=status,
            body=body.encode("utf-8") if isinstance(body, str) else bytes(body),
            headers=dict(headers or {}),
            delay=delay,
            content_type=content_type,
        )
        with self._cond:
            self._queue.extend([response] * times)

    def respond_ok(self, times: int = 1) -> None:
        """Webhook success: 200, ``ok``."""
        self.queue_response(200, "ok", times=times)

    def respond_error(self, status: int, error: str, times: int = 1) -> None:
        """Webhook-style error, e.g. ``400 invalid_payload``, ``404 channel_not_found``,
        ``403 action_prohibited``, ``410 channel_is_archived`` (bare text body)."""
        self.queue_response(status, error, times=times)

    def respond_api_error(self, error: str, status: int = 200, times: int = 1) -> None:
        """Web API error: ``{"ok": false, "error": error}`` (HTTP 200 by default)."""
        self.queue_response(
            status,
            json.dumps({"ok": False, "error": error}),
            content_type="application/json",
            times=times,
        )

    def respond_invalid_blocks(self, *messages: str, times: int = 1) -> None:
        """Web API ``invalid_blocks``, explained in ``response_metadata.messages``."""
        body = {
            "ok": False,
            "error": "invalid_blocks",
            "response_metadata": {"messages": list(messages) or ["[ERROR] invalid block"]},
        }
        self.queue_response(200, json.dumps(body), content_type="application/json", times=times)

    def respond_rate_limited(self, retry_after: int | None = 1, times: int = 1) -> None:
        """429 ``rate_limited`` with ``Retry-After`` (omitted when None)."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self.queue_response(429, "rate_limited", headers=headers, times=times)

    def respond_server_error(
        self, status: int = 500, body: str = "rollup_error", times: int = 1
    ) -> None:
        """A 5xx answer."""
        self.queue_response(status, body, times=times)

    def respond_slow(
        self, seconds: float, status: int = 200, body: str = "ok", times: int = 1
    ) -> None:
        """Answer after ``seconds`` (cut short, with a hang-up, by stop())."""
        self.queue_response(status, body, delay=seconds, times=times)

    # -- used by the handler -----------------------------------------------

    def _record_and_pick_response(self, request: RecordedRequest) -> CannedResponse:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()
            limited = self._limit(request)
            if limited is not None:
                return limited
            if self._queue:
                return self._queue.popleft()
            data = _json_of(request)
            problems = _block_problems(data.get("blocks")) if "blocks" in data else []
            if not self.api_mode:
                if problems:  # incoming webhooks answer a bare word
                    return CannedResponse(status=400, body=b"invalid_blocks")
                return CannedResponse()
            if problems:
                return _json_response(
                    {
                        "ok": False,
                        "error": "invalid_blocks",
                        "response_metadata": {"messages": problems},
                    }
                )
            path = request.path.split("?", 1)[0]
            if path.endswith("chat.update"):
                return self._update(data)
            if path.endswith("users.info"):
                return self._user_info(request)
            if path.endswith("chat.postEphemeral"):
                return self._ephemeral(data)
            return self._post(request, data)

    def _limit(self, request: RecordedRequest) -> CannedResponse | None:
        """The channel limit's 429, or None (called with the lock held)."""
        channel = _channel_of(request) if self._limiter is not None else None
        if self._limiter is None or not channel:
            return None
        key = self.channel_id(channel)
        if self._limiter.in_window(key, request.received_at):
            self._inside_retry_after.append(request)
        seconds = self._limiter.retry_after(key, request.received_at)
        if seconds is None:
            return None
        self._rate_limited.append(request)
        headers = {"Retry-After": str(seconds)}
        if self.api_mode:
            body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
            return CannedResponse(429, body, headers, content_type="application/json")
        return CannedResponse(429, b"rate_limited", headers)

    def _next_ts(self) -> str:
        ts = f"{self._ts_micros // 1_000_000}.{self._ts_micros % 1_000_000:06d}"
        self._ts_micros += _TS_STEP_MICROS
        return ts

    def _post(self, request: RecordedRequest, data: dict[str, Any]) -> CannedResponse:
        """chat.postMessage (called with the lock held)."""
        ts = self._next_ts()
        channel = _channel_of(request)
        if channel is None:  # answered as before the fake kept messages
            return _json_response({"ok": True, "channel": None, "ts": ts})
        message = FakeMessage(
            channel=self.channel_id(channel),
            ts=ts,
            text=str(data.get("text") or ""),
            blocks=data.get("blocks"),
            thread_ts=str(data.get("thread_ts") or ""),
            reply_broadcast=bool(data.get("reply_broadcast")),
        )
        self._messages[(message.channel, ts)] = message
        answer = {"ok": True, "channel": message.channel, "ts": ts, "message": _shown(message)}
        return _json_response(answer)

    def _update(self, data: dict[str, Any]) -> CannedResponse:
        """chat.update (called with the lock held): the channel must be an id."""
        channel, ts = str(data.get("channel") or ""), str(data.get("ts") or "")
        if not _CHANNEL_ID_RE.match(channel):
            return _json_response({"ok": False, "error": "channel_not_found"})
        message = self._messages.get((channel, ts))
        if message is None:
            return _json_response({"ok": False, "error": "message_not_found"})
        message.edits.append((message.text, message.blocks))
        message.text = str(data.get("text") or "")
        if "blocks" in data:  # absent: Slack keeps the blocks the message had
            message.blocks = data["blocks"] or None
        answer = {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": _shown(message),
        }
        return _json_response(answer)

    def _user_info(self, request: RecordedRequest) -> CannedResponse:
        """users.info (called with the lock held): a form body ``user=U…``."""
        values = parse_qs(request.body.decode("utf-8", errors="replace")).get("user") or [""]
        user = self._users.get(values[0])
        if user is None:
            return _json_response({"ok": False, "error": "user_not_found"})
        return _json_response({"ok": True, "user": user})

    def _ephemeral(self, data: dict[str, Any]) -> CannedResponse:
        """chat.postEphemeral (called with the lock held)."""
        channel, user = str(data.get("channel") or ""), str(data.get("user") or "")
        if not _CHANNEL_ID_RE.match(channel) or user not in self._users:
            error = "channel_not_found" if user in self._users else "user_not_in_channel"
            return _json_response({"ok": False, "error": error})
        self._ephemerals.append(FakeEphemeral(channel, user, str(data.get("text") or "")))
        return _json_response({"ok": True, "message_ts": self._next_ts()})

    def _register_connection(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections.add(conn)
            stopping = self.stopping
        if stopping:
            self._hang_up(conn)

    def _unregister_connection(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections.discard(conn)

    @staticmethod
    def _hang_up(conn: socket.socket) -> None:
        # socket.socket.shutdown is the plain socket's method, so for a TLS
        # socket this shuts the TCP connection down without touching the SSL
        # object another thread may be using.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(conn, socket.SHUT_RDWR)


def _json_response(payload: dict[str, Any]) -> CannedResponse:
    return CannedResponse(body=json.dumps(payload).encode(), content_type="application/json")


def _shown(message: FakeMessage) -> dict[str, Any]:
    """The ``message`` object of Slack's answer."""
    shown: dict[str, Any] = {"type": "message", "text": message.text, "ts": message.ts}
    if message.blocks:
        shown["blocks"] = message.blocks
    if message.thread_ts:
        shown["thread_ts"] = message.thread_ts
    return shown


def _json_of(request: RecordedRequest) -> dict[str, Any]:
    try:
        data = request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _block_problems(blocks: Any) -> list[str]:
    """What Slack says about blocks it refuses, in its words (``[ERROR] … [json-pointer:…]``)."""
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    problems = []
    if len(blocks) > _MAX_BLOCKS:
        problems.append(f"[ERROR] no more than {_MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for index, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in _BLOCK_TYPES:
            problems.append(f"[ERROR] unsupported type: {kind} [json-pointer:/blocks/{index}/type]")
            continue
        text = block.get("text") if isinstance(block.get("text"), dict) else {}
        limit = {"section": _SECTION_TEXT_MAX, "header": _HEADER_TEXT_MAX}.get(kind)
        if limit and len(str(text.get("text") or "")) > limit:
            problems.append(
                f"[ERROR] must be less than {limit + 1} characters "
                f"[json-pointer:/blocks/{index}/text/text]"
            )
    return problems


def _channel_of(request: RecordedRequest) -> str | None:
    """The ``channel`` a Web API call was made for (JSON or form body)."""
    content_type = request.headers.get("content-type", "").lower()
    if "application/x-www-form-urlencoded" in content_type:
        values = parse_qs(request.body.decode("utf-8", errors="replace")).get("channel")
        return values[0] if values else None
    try:
        data = request.json()
    except ValueError:
        return None
    channel = data.get("channel") if isinstance(data, dict) else None
    return channel if isinstance(channel, str) else None
