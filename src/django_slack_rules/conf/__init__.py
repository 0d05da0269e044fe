"""The package's settings: ``SLACK_INTERNAL_ENDPOINT`` and the ``SLACK_RULES`` dict.

Nothing is read at import time. Every access reads Django's settings, so
``override_settings`` just works; imported dotted paths are cached, and
``AppConfig.ready()`` connects :func:`reload_on_setting_changed`, which clears
that cache in place when a test changes one of :data:`WATCHED_SETTINGS` (``setting_changed``).

The defaults and the names the settings use are in :mod:`.defaults`, re-exported here.
This package reads settings only: it imports nothing of the package but its exceptions.
"""

from __future__ import annotations

import os
from typing import Any, cast
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.db import models
from django.dispatch import Signal
from django.utils.module_loading import import_string

from ..exceptions import SlackRulesConfigurationError
from .defaults import (
    DEFAULTS,
    ENDPOINT_SETTING,
    GATEWAY_MODES,
    IMPORT_STRINGS,
    METRICS_DEFAULTS,
    METRICS_TOKEN_ENV,
    SIGNING_SECRET_ENV,
    MetricsSettings,
)

__all__ = [
    "DEFAULTS",
    "ENDPOINT_SETTING",
    "GATEWAY_MODES",
    "IMPORT_STRINGS",
    "METRICS_DEFAULTS",
    "METRICS_TOKEN_ENV",
    "SIGNING_SECRET_ENV",
    "WATCHED_SETTINGS",
    "MetricsSettings",
    "SlackRulesSettings",
    "parse_endpoint",
    "reload_on_setting_changed",
    "slack_rules_settings",
]


def parse_endpoint(url: str) -> SplitResult:
    """Split an http(s) endpoint URL; raise a configuration error naming the fix."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SlackRulesConfigurationError(
            f"{ENDPOINT_SETTING} is not an http(s) URL. Set it to the internal proxy "
            "location, e.g. http://10.0.0.5/slack-proxy/."
        )
    return parts


class SlackRulesSettings:
    """One property per setting; reads Django's settings on every access."""

    def __init__(self) -> None:
        self._imported: dict[str, object] = {}

    # -- raw access ---------------------------------------------------------
    @property
    def user_settings(self) -> dict[str, object]:
        value = getattr(settings, "SLACK_RULES", None)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise SlackRulesConfigurationError(
                f"SLACK_RULES must be a dict, not {type(value).__name__}. "
                "Set SLACK_RULES = {...} in your settings (see docs/settings.md)."
            )
        return value

    def get(self, key: str) -> Any:  # Any: what the host wrote; each property converts it
        if key not in DEFAULTS:
            raise AttributeError(f"Unknown SLACK_RULES key {key!r}")
        return self.user_settings.get(key, DEFAULTS[key])

    # -- one property per key (the values are validated by the system checks) --
    @property
    def SIGNAL(self) -> object:
        return self.get("SIGNAL")

    @property
    def ALERT_MODEL(self) -> str | None:
        return self.get("ALERT_MODEL")

    @property
    def ADAPTER(self) -> object:
        return self.get("ADAPTER")

    @property
    def DEFAULT_CHANNEL(self) -> str:
        return self.get("DEFAULT_CHANNEL")

    @property
    def BACKEND(self) -> object:
        return self.get("BACKEND")

    @property
    def BASE_TEMPLATE(self) -> str:
        return self.get("BASE_TEMPLATE")

    @property
    def QUEUE(self) -> str | None:
        return self.get("QUEUE")

    @property
    def MAX_ATTEMPTS(self) -> int:
        return int(self.get("MAX_ATTEMPTS"))

    @property
    def RETRY_BACKOFF_BASE(self) -> float:
        return float(self.get("RETRY_BACKOFF_BASE"))

    @property
    def RETRY_BACKOFF_MAX(self) -> float:
        return float(self.get("RETRY_BACKOFF_MAX"))

    @property
    def CONNECT_TIMEOUT(self) -> float:
        return float(self.get("CONNECT_TIMEOUT"))

    @property
    def READ_TIMEOUT(self) -> float:
        return float(self.get("READ_TIMEOUT"))

    @property
    def MESSAGE_MAX_LENGTH(self) -> int:
        return int(self.get("MESSAGE_MAX_LENGTH"))

    @property
    def GATEWAY_MODE(self) -> str:
        return str(self.get("GATEWAY_MODE"))

    @property
    def BOT_MODE(self) -> bool:
        """True when the gateway holds a bot token: threads and updates are possible."""
        return self.GATEWAY_MODE == "bot"

    @property
    def THREAD_WAIT(self) -> float:
        return float(self.get("THREAD_WAIT"))

    @property
    def EDIT_WINDOW(self) -> float | None:
        value = self.get("EDIT_WINDOW")
        return None if value is None else float(value)

    @property
    def CHANNEL_RATE(self) -> float | None:
        value = self.get("CHANNEL_RATE")
        return None if value is None else float(value)

    @property
    def CHANNEL_BURST(self) -> int:
        return int(self.get("CHANNEL_BURST"))

    @property
    def DIGEST_AFTER(self) -> int | None:
        value = self.get("DIGEST_AFTER")
        return None if value is None else int(value)

    @property
    def RECOVERY_AFTER(self) -> float:
        return float(self.get("RECOVERY_AFTER"))

    @property
    def SITE_URL(self) -> str:
        """``SLACK_RULES["SITE_URL"]``, else Django's ``settings.SITE_URL``, else ""."""
        value = self.get("SITE_URL")
        if value is None:
            value = getattr(settings, "SITE_URL", None)
        return str(value or "")

    @property
    def METRICS(self) -> MetricsSettings:
        """``SLACK_RULES["METRICS"]`` over its defaults (check E013 validates the values)."""
        value = self.get("METRICS")
        return cast(
            MetricsSettings, {**METRICS_DEFAULTS, **(value if isinstance(value, dict) else {})}
        )

    @property
    def METRICS_ENABLED(self) -> bool:
        return self.METRICS["ENABLED"] is True

    def metrics_token(self) -> str:
        """The bearer token a scrape must send ("" when none is configured), read now: from
        ``METRICS["TOKEN_FILE"]`` (surrounding whitespace removed), else the environment.
        Raises ``OSError`` when the file cannot be read."""
        path = self.METRICS["TOKEN_FILE"]
        if path:
            with open(path, encoding="utf-8") as token_file:
                return token_file.read().strip()
        return os.environ.get(METRICS_TOKEN_ENV, "").strip()

    @property
    def SIGNING_SECRET_FILE(self) -> str | None:
        value = self.get("SIGNING_SECRET_FILE")
        return None if value is None else str(value)

    @property
    def USER_RESOLVER(self) -> object:
        return self.get("USER_RESOLVER")

    # -- derived ------------------------------------------------------------
    @property
    def ENDPOINT(self) -> str:
        """``settings.SLACK_INTERNAL_ENDPOINT``, else the environment variable."""
        value = getattr(settings, ENDPOINT_SETTING, None)
        if value is None:
            value = os.environ.get(ENDPOINT_SETTING, "")
        return str(value or "")

    def import_setting(self, key: str) -> Any:  # Any: what the path names; callers check it
        """Import the dotted path held by ``SLACK_RULES[key]`` (cached until settings change).

        A value that is already an object (a class or a Signal) is returned as is.
        """
        if key not in IMPORT_STRINGS:
            raise AttributeError(f"SLACK_RULES[{key!r}] is not a dotted path")
        if key in self._imported:
            return self._imported[key]
        value = self.get(key)
        if value is None or not isinstance(value, str):
            obj = value
        else:
            try:
                obj = import_string(value)
            except ImportError as exc:
                raise SlackRulesConfigurationError(
                    f'SLACK_RULES["{key}"] = {value!r} could not be imported: {exc}. '
                    "Check the dotted path (module.attribute) and that its app is installed."
                ) from exc
        self._imported[key] = obj
        return obj

    def get_signal(self) -> Signal | None:
        """The Signal named by ``SLACK_RULES["SIGNAL"]``, or None."""
        signal = self.import_setting("SIGNAL")
        if signal is not None and not isinstance(signal, Signal):
            raise SlackRulesConfigurationError(
                f'SLACK_RULES["SIGNAL"] = {self.SIGNAL!r} is a {type(signal).__name__}, '
                "not a Signal. Name a django.dispatch.Signal instance, e.g. "
                '"alerts.signals.alert_processed".'
            )
        return signal

    def get_alert_model(self) -> type[models.Model]:
        from django.apps import apps

        value = self.ALERT_MODEL
        if not value:
            raise SlackRulesConfigurationError(
                'SLACK_RULES["ALERT_MODEL"] is not set. Set it to the host\'s alert model '
                'as "app_label.ModelName", e.g. "alerts.AlertGroup".'
            )
        try:
            return apps.get_model(value, require_ready=False)
        except (ValueError, LookupError) as exc:
            raise SlackRulesConfigurationError(
                f'SLACK_RULES["ALERT_MODEL"] = {value!r} is not an installed model: {exc}. '
                'Use "app_label.ModelName" of an app in INSTALLED_APPS.'
            ) from exc

    def reload(self) -> None:
        """Forget imported paths (in place, so references to this object stay valid)."""
        self._imported.clear()


slack_rules_settings = SlackRulesSettings()


#: The settings whose change clears the cache of imported paths.
WATCHED_SETTINGS = frozenset({"SLACK_RULES", ENDPOINT_SETTING, "DEBUG"})


def reload_on_setting_changed(*, setting: str, **kwargs: object) -> None:
    """``setting_changed`` receiver (connected in ``AppConfig.ready()``)."""
    if setting in WATCHED_SETTINGS:
        slack_rules_settings.reload()
