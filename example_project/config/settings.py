"""Settings of the example host: an alert app shaped like SentryHub, with django-slack-rules.

Embedded defaults, so nothing else needs to run: SQLite and kombu's filesystem
broker, both under ``EXAMPLE_STATE_DIR``. The environment switches to services:

- ``DATABASE_URL``: ``postgres://user:password@host:5432/name`` (or ``sqlite:///path``).
- ``CELERY_BROKER_URL``: e.g. ``redis://127.0.0.1:6379/0``.
- ``CELERY_TASK_DEFAULT_QUEUE``: the queue the worker listens to (default ``alerts``,
  as in SentryHub).
- ``SLACK_INTERNAL_ENDPOINT``: the nginx location that holds the Slack secret.
- ``SLACK_GATEWAY_MODE``: ``webhook`` (default) or ``bot``, the gateway's mode
  (``SLACK_RULES["GATEWAY_MODE"]``); the demo's ``--bot`` sets it.
- ``SLACK_SIGNING_SECRET``: the Slack app's signing secret, which verifies the clicks on
  the messages' buttons (bot mode) at ``slack/actions/``; the demo makes one up.
- ``SITE_URL``: the example's address, for the messages' *Open* button (default
  ``http://127.0.0.1:8000``).
- ``EXAMPLE_STATE_DIR``: where the SQLite file and the broker's folders live
  (default: ``example_project/.state``).
- ``DJANGO_DEBUG`` (default ``1``), ``DJANGO_SECRET_KEY``, ``DJANGO_ALLOWED_HOSTS``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import django

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("EXAMPLE_STATE_DIR") or BASE_DIR / ".state")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The package and the form packs its pages use.
    "crispy_forms",
    "crispy_bootstrap5",
    "django_slack_rules",
    # The host's alert app (SentryHub: "alerts").
    "alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def sqlite_database(name: str | Path) -> dict[str, Any]:
    """SQLite for a web app and a worker that write at the same time."""
    options: dict[str, Any] = {"timeout": 20}  # seconds to wait for the other's write lock
    if django.VERSION >= (5, 1):
        # Take the write lock when a transaction starts: a transaction that reads first
        # and writes later could otherwise fail at once with "database is locked".
        # WAL lets the pages read while the worker writes.
        options.update(transaction_mode="IMMEDIATE", init_command="PRAGMA journal_mode=WAL;")
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": name, "OPTIONS": options}


def database_from_url(url: str) -> dict[str, Any]:
    """A ``DATABASES["default"]`` dict from ``postgres://…`` or ``sqlite:///…``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return sqlite_database(unquote(parts.path[1:]))
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    raise ValueError(
        f"DATABASE_URL: unsupported scheme {parts.scheme!r} (postgres:// or sqlite:///)"
    )


if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}
else:
    DATABASES = {"default": sqlite_database(STATE_DIR / "db.sqlite3")}

# --- Celery (SentryHub: CELERY_TASK_DEFAULT_QUEUE = "alerts") ---------------------------
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "alerts")
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if os.environ.get("CELERY_BROKER_URL"):
    CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
else:
    # kombu's filesystem transport: messages are files in a folder both processes share.
    _broker = STATE_DIR / "broker"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "queue"),
        "data_folder_out": str(_broker / "queue"),
        "control_folder": str(_broker / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
    for _folder in ("queue", "control"):
        (_broker / _folder).mkdir(parents=True, exist_ok=True)

# The package's recovery (README, step 6): every minute, celery beat queues again what the
# broker lost or a dead worker left (`celery -A config beat`; the demo needs none).
CELERY_BEAT_SCHEDULE = {
    "slack-rules-recovery": {"task": "django_slack_rules.tasks.recover_stranded", "schedule": 60.0},
}

# --- django-slack-rules --------------------------------------------------------------
# The internal nginx location that holds the Slack secret; never the Slack webhook URL
# itself. The default is where `python slack_printer.py` (the fake Slack) listens.
SLACK_INTERNAL_ENDPOINT = os.environ.get(
    "SLACK_INTERNAL_ENDPOINT", "http://127.0.0.1:8787/slack-proxy/"
)

SLACK_RULES = {
    "SIGNAL": "alerts.signals.alert_processed",
    "ALERT_MODEL": "alerts.AlertGroup",
    # SentryHub's adapter, with this host's silence model and alert page (alerts/slack_adapter.py).
    "ADAPTER": "alerts.slack_adapter.ExampleAdapter",
    "BACKEND": "django_slack_rules.backends.InternalProxyBackend",
    "DEFAULT_CHANNEL": "#alerts",
    "BASE_TEMPLATE": "base.html",
    # "bot": a bot token in the gateway, so resolutions can reply in a thread and update.
    "GATEWAY_MODE": os.environ.get("SLACK_GATEWAY_MODE", "webhook"),
    # Where the messages' "Open" button links to. The buttons' clicks are verified with the
    # signing secret in the environment variable SLACK_SIGNING_SECRET (never in settings).
    "SITE_URL": os.environ.get("SITE_URL", "http://127.0.0.1:8000"),
    # Quick retries for a demo; production keeps the defaults (2 s, capped at 600 s).
    "RETRY_BACKOFF_BASE": 1.0,
    "RETRY_BACKOFF_MAX": 30.0,
}

# The rule pages' forms are django-crispy-forms with the Bootstrap 5 pack.
CRISPY_ALLOWED_TEMPLATE_PACKS = CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- the rest ------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "/static/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django_slack_rules": {"handlers": ["console"], "level": "INFO"},
        "alerts": {"handlers": ["console"], "level": "INFO"},
    },
}

STATE_DIR.mkdir(parents=True, exist_ok=True)
