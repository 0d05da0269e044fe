"""The defaults of every setting, and the names the settings use: keys, modes, environment
variables. Data only (docs/settings.md documents each key); :mod:`django_slack_rules.conf`
reads the settings with them."""

from __future__ import annotations

from typing import TypedDict

#: Defaults for every key of ``SLACK_RULES`` (documented in docs/settings.md).
DEFAULTS: dict[str, object] = {
    # Dotted path of the host's Signal ("alerts.signals.alert_processed"); None: no wiring.
    "SIGNAL": None,
    # "app_label.ModelName" of the host's alert model that the task loads by id.
    "ALERT_MODEL": None,
    # Class that reads the host's alert object (labels, status, silence, context).
    "ADAPTER": "django_slack_rules.adapters.AlertGroupAdapter",
    # Channel used when a rule has none and the alert carries no ``channel`` label.
    "DEFAULT_CHANNEL": "#alerts",
    # Class that delivers a message: InternalProxyBackend, LocmemBackend, ConsoleBackend.
    "BACKEND": "django_slack_rules.backends.InternalProxyBackend",
    # The template the package's pages extend.
    "BASE_TEMPLATE": "django_slack_rules/base.html",
    # Celery queue of the task; None: Celery's default queue (task_default_queue).
    "QUEUE": None,
    # How many times one notification is attempted before it is recorded as failed.
    "MAX_ATTEMPTS": 8,
    # Exponential backoff: BASE * 2**(attempt - 1) seconds, with jitter, at most MAX.
    "RETRY_BACKOFF_BASE": 2.0,
    "RETRY_BACKOFF_MAX": 600.0,
    # requests timeouts, seconds, for the connection and for Slack's answer.
    "CONNECT_TIMEOUT": 3.05,
    "READ_TIMEOUT": 10.0,
    # Text longer than this is cut with a visible marker (Slack's hard limit: 40,000).
    "MESSAGE_MAX_LENGTH": 4000,
    # How the gateway reaches Slack: "webhook" (incoming webhooks: a new message each
    # time) or "bot" (a bot token: chat.postMessage and chat.update, threads, updates).
    "GATEWAY_MODE": "webhook",
    # Seconds a resolution (or a reply) waits for its firing message to be sent before
    # it posts a message of its own.
    "THREAD_WAIT": 300.0,
    # Seconds after which a firing message is no longer updated (a new message is
    # posted instead); None: as long as Slack allows it.
    "EDIT_WINDOW": None,
    # Pacing, shared by every worker: messages per second to one destination (a channel,
    # or a webhook), and how many may go at once after a quiet spell. Slack takes about one
    # per second per channel, with short bursts. None: no pacing (the host limits itself).
    "CHANNEL_RATE": 1.0,
    "CHANNEL_BURST": 3,
    # When more deliveries than this wait for a destination's slot, its next slot sends one
    # digest of them instead of the next message; None: never (one by one, paced).
    "DIGEST_AFTER": 10,
    # Seconds a pending delivery may sit untouched (or past its retry's time) before the
    # periodic recovery task (django_slack_rules.tasks.recover_stranded) queues it again.
    "RECOVERY_AFTER": 60.0,
    # The site's address, for the link from a digest to the delivery log, e.g.
    # "https://alerts.example.com"; None: Django's settings.SITE_URL if the host has one.
    "SITE_URL": None,
    # The Prometheus metrics view (``metrics/`` in the package's URLconf): off unless enabled;
    # it answers a bearer token (the file TOKEN_FILE, else the environment variable
    # SLACK_RULES_METRICS_TOKEN) or the addresses in ALLOW. Keys left out take their default.
    "METRICS": {},
    # Actions from Slack (buttons, bot mode): the file that holds the Slack app's signing
    # secret; None: the environment variable SLACK_SIGNING_SECRET. Never the secret itself.
    "SIGNING_SECRET_FILE": None,
    # Dotted path of a callable(slack_user: dict) -> host user or None, which maps the
    # Slack user who clicked; None: the Slack user's email (users.info) finds the user.
    "USER_RESOLVER": None,
}


class MetricsSettings(TypedDict):
    """``SLACK_RULES["METRICS"]`` over its defaults: of these types once check E013 passes."""

    ENABLED: bool
    TOKEN_FILE: str | None
    ALLOW: list[str]
    MAX_LABEL_VALUES: int


#: Defaults of the keys of ``SLACK_RULES["METRICS"]`` (docs/metrics.md).
METRICS_DEFAULTS: MetricsSettings = {
    "ENABLED": False,
    # Path of a file holding the bearer token a scrape must send; None: the environment
    # variable named by METRICS_TOKEN_ENV, if set.
    "TOKEN_FILE": None,
    # Addresses or networks ("127.0.0.1", "10.0.0.0/8") that may scrape without a token.
    "ALLOW": [],
    # How many channels (and how many rules) get a label value of their own; the rest are
    # counted as "other".
    "MAX_LABEL_VALUES": 100,
}

#: The environment variable holding the metrics token when ``TOKEN_FILE`` is not set.
METRICS_TOKEN_ENV = "SLACK_RULES_METRICS_TOKEN"

#: The environment variable read for the signing secret when no file is named.
SIGNING_SECRET_ENV = "SLACK_SIGNING_SECRET"

#: The values of ``SLACK_RULES["GATEWAY_MODE"]``.
GATEWAY_MODES = ("webhook", "bot")

#: The keys whose values are dotted import paths.
IMPORT_STRINGS = ("SIGNAL", "ADAPTER", "BACKEND", "USER_RESOLVER")

ENDPOINT_SETTING = "SLACK_INTERNAL_ENDPOINT"
