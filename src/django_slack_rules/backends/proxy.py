"""The default backend: a JSON POST to the internal proxy (nginx) that holds the secret."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import cast

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..conf import parse_endpoint, slack_rules_settings
from ..exceptions import (
    REASON_GATEWAY_UNREACHABLE,
    REASON_TIMEOUT,
    SlackRetryableError,
    SlackRulesConfigurationError,
)
from ..typing import JSONObject
from .base import BaseBackend, SlackResult, classify_response

#: The header that carries the channel, so nginx can route on it (webhook mode).
CHANNEL_HEADER = "X-Slack-Channel"

#: Every Slack Web API method the package calls in bot mode: the gateway's location for it
#: (after ``SLACK_INTERNAL_ENDPOINT``; deploy/nginx/ relays these and no other) and the
#: OAuth scopes the Slack app needs for it (docs/slack.md's manifest; a test keeps the three
#: in step).
WEB_API_METHODS: dict[str, tuple[str, tuple[str, ...]]] = {
    "chat.postMessage": ("", ("chat:write",)),
    "chat.update": ("chat.update", ("chat:write",)),
    "chat.postEphemeral": ("chat.postEphemeral", ("chat:write",)),
    "users.info": ("users.info", ("users:read", "users:read.email")),
}

_local = threading.local()


def get_session() -> requests.Session:
    """This thread's pooled session. requests never retries a POST by itself here."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=Retry(total=0, connect=0, read=0, redirect=0))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = "django-slack-rules"
        _local.session = session
    return session


def _more_fields(extra: Mapping[str, object]) -> JSONObject:
    """A message's other fields, ``extra["payload"]`` (``blocks``, ``thread_ts``…): the JSON
    object :class:`~django_slack_rules.services.slack_service.SlackService` passes on."""
    return cast(JSONObject, extra.get("payload") or {})


class InternalProxyBackend(BaseBackend):
    """POSTs ``{"channel": …, "text": …}`` to ``SLACK_INTERNAL_ENDPOINT``.

    The channel also travels in the ``X-Slack-Channel`` header (UTF-8), so the proxy
    can pick the right incoming webhook without reading the body. In bot mode, an update
    goes to ``SLACK_INTERNAL_ENDPOINT + "chat.update"``, and the answers to a click from
    Slack to ``… + "chat.postEphemeral"`` and ``… + "users.info"`` (the gateway's other
    locations).
    """

    def __init__(self, endpoint: str | None = None, **options: object) -> None:
        super().__init__(**options)
        self.endpoint = endpoint if endpoint is not None else slack_rules_settings.ENDPOINT
        if not self.endpoint:
            raise SlackRulesConfigurationError(
                "SLACK_INTERNAL_ENDPOINT is not set, so InternalProxyBackend has nowhere to send. "
                "Set it in settings or the environment (e.g. http://10.0.0.5/slack-proxy/), or "
                'choose another SLACK_RULES["BACKEND"].'
            )
        parts = parse_endpoint(self.endpoint)
        # For messages and logs: the proxy's address, never the full URL.
        self.target = parts.netloc.rpartition("@")[2]
        self.timeout = (
            slack_rules_settings.CONNECT_TIMEOUT,
            slack_rules_settings.READ_TIMEOUT,
        )
        base = self.endpoint if self.endpoint.endswith("/") else self.endpoint + "/"
        self.update_endpoint = base + WEB_API_METHODS["chat.update"][0]
        self.ephemeral_endpoint = base + WEB_API_METHODS["chat.postEphemeral"][0]
        self.users_info_endpoint = base + WEB_API_METHODS["users.info"][0]

    def build_payload(self, channel: str, text: str, **extra: object) -> JSONObject:
        return {"channel": channel, "text": text, **_more_fields(extra)}

    def send(self, channel: str, text: str, **extra: object) -> SlackResult:
        return self._post(self.endpoint, channel, self.build_payload(channel, text, **extra))

    def update(self, channel: str, ts: str, text: str, **extra: object) -> SlackResult:
        payload: JSONObject = {"channel": channel, "ts": ts, "text": text, **_more_fields(extra)}
        return self._post(self.update_endpoint, channel, payload)

    def post_ephemeral(self, channel: str, user: str, text: str) -> SlackResult:
        payload: JSONObject = {"channel": channel, "user": user, "text": text}
        return self._post(self.ephemeral_endpoint, channel, payload)

    def user_info(self, user: str) -> JSONObject:
        """``users.info`` through the gateway, as a form (Slack's read methods take no JSON)."""
        result = self._post(self.users_info_endpoint, "", {"user": user}, form=True)
        found = result.data.get("user")
        return found if isinstance(found, dict) else {}

    def _post(
        self, url: str, channel: str, payload: JSONObject, *, form: bool = False
    ) -> SlackResult:
        try:
            response = get_session().post(
                url,
                data=payload if form else None,
                json=None if form else payload,
                # UTF-8 bytes: Slack channel names may be non-Latin ("#アラート"), and
                # nginx matches the header byte for byte against the secrets map.
                headers={CHANNEL_HEADER: channel.encode("utf-8")},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise self._unreachable(channel, exc) from exc
        return classify_response(channel, response.status_code, response.headers, response.text)

    def _unreachable(self, channel: str, exc: requests.RequestException) -> SlackRetryableError:
        """The error for a request that got no answer from the gateway: a timeout (Slack may
        have the message), a connection refused or lost, or another failure of requests
        (nothing reached Slack). Says which, never the endpoint's path."""
        kind = type(exc).__name__
        if isinstance(exc, requests.Timeout):
            return SlackRetryableError(
                f"The Slack gateway at {self.target} did not answer in time "
                f"({kind}; timeouts connect={self.timeout[0]:g}s "
                f"read={self.timeout[1]:g}s); Slack may or may not have the message;",
                channel=channel,
                error="timeout",
                reason=REASON_TIMEOUT,
            )
        if isinstance(exc, requests.ConnectionError):
            error = "connection_error"
            detail = (
                f"({kind}): is it running, and is SLACK_INTERNAL_ENDPOINT right? "
                "Nothing reached Slack;"
            )
        else:
            error, detail = "request_error", f"({kind}); nothing reached Slack;"
        return SlackRetryableError(
            f"The Slack gateway at {self.target} could not be reached {detail}",
            channel=channel,
            error=error,
            reason=REASON_GATEWAY_UNREACHABLE,
        )
