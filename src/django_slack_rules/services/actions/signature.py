"""Is this request from Slack? Its signature, checked against the app's signing secret.

Slack signs each request it sends: ``X-Slack-Signature: v0=<hex>``, the HMAC-SHA256 of
``v0:{X-Slack-Request-Timestamp}:{raw body}`` with the signing secret. slack-sdk's
``SignatureVerifier`` computes it and compares in constant time; this module adds the
reasons (a stale timestamp is told apart from a wrong signature, for the logs) and reads
the secret from where the settings say: the file named by
``SLACK_RULES["SIGNING_SECRET_FILE"]``, else the environment variable
``SLACK_SIGNING_SECRET``. The secret is read on each request (a rotation needs no
restart) and never kept in settings, the database or a log.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ...conf import SIGNING_SECRET_ENV, slack_rules_settings

#: How far Slack's timestamp may be from this server's clock, in seconds (Slack's advice).
MAX_CLOCK_SKEW = 5 * 60


class SigningSecretMissing(Exception):
    """No signing secret is configured, or its file cannot be read (the message says which)."""


def signing_secret() -> str:
    """The Slack app's signing secret. Raises :class:`SigningSecretMissing` saying why not."""
    path = slack_rules_settings.SIGNING_SECRET_FILE
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                secret = file.read().strip()
        except OSError as exc:
            raise SigningSecretMissing(
                f'SLACK_RULES["SIGNING_SECRET_FILE"] = {path!r} cannot be read '
                f"({exc.strerror}); give the web server's user read access to it"
            ) from None
        if not secret:
            raise SigningSecretMissing(
                f'SLACK_RULES["SIGNING_SECRET_FILE"] = {path!r} is empty; put the Slack '
                "app's signing secret in it (Basic Information → App Credentials)"
            )
        return secret
    secret = os.environ.get(SIGNING_SECRET_ENV, "").strip()
    if not secret:
        raise SigningSecretMissing(
            f'no signing secret: set SLACK_RULES["SIGNING_SECRET_FILE"] to a file that holds '
            f"the Slack app's signing secret, or the environment variable {SIGNING_SECRET_ENV}"
        )
    return secret


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one request: ``ok``, else ``reason`` (for the log)."""

    ok: bool
    reason: str = ""


class _FixedClock:
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def verify(
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    secret: str,
    now: float | None = None,
) -> Verdict:
    """Whether ``body`` was signed by Slack with ``secret`` at ``timestamp``, within
    :data:`MAX_CLOCK_SKEW` of ``now``."""
    from slack_sdk.signature import SignatureVerifier

    now = time.time() if now is None else now
    if not timestamp or not signature:
        return Verdict(False, "no X-Slack-Request-Timestamp or X-Slack-Signature header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        return Verdict(False, "X-Slack-Request-Timestamp is not a number")
    if abs(now - sent_at) > MAX_CLOCK_SKEW:
        return Verdict(
            False,
            f"the timestamp is {now - sent_at:+.0f} s away from this server's clock (at most "
            f"{MAX_CLOCK_SKEW} s is taken): a replay, or a clock out of step (run NTP)",
        )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return Verdict(False, "the body is not UTF-8")
    verifier = SignatureVerifier(secret, clock=_FixedClock(now))  # type: ignore[arg-type]
    if not verifier.is_valid(body, timestamp, signature):
        return Verdict(
            False,
            "the signature does not match: not from Slack, or a signing secret other than "
            "the Slack app's",
        )
    return Verdict(True)
