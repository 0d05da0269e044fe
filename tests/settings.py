"""Settings for the test suite: a host shaped like SentryHub (the ``alerts`` app).

Environment:
- ``DSR_DATABASE=postgres`` runs against PostgreSQL on 127.0.0.1:5432 (driver: psycopg 3 or
  psycopg2, whichever is installed), ``DSR_DATABASE=mariadb`` against MariaDB on
  127.0.0.1:3306 (user root, no password; driver mysqlclient); default: SQLite.
  ``DSR_DB_NAME`` names the database (each tox env uses its own).
- ``CELERY_BROKER_URL`` (default: Redis on 127.0.0.1:6379) for the end-to-end tests; an
  ``amqp://`` URL runs them on RabbitMQ.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_slack_rules",
    "tests.alerts",
    # SentryHub's old in-tree Slack rules (label "integrations"), for slack_rules_import.
    "tests.legacy_integrations",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

# SentryHub schedules periodic tasks with django-celery-beat: its envs install it.
if importlib.util.find_spec("django_celery_beat") is not None:
    INSTALLED_APPS.append("django_celery_beat")

ROOT_URLCONF = "tests.urls"
# The migration test sets it to BigAutoField, as many hosts do.
DEFAULT_AUTO_FIELD = os.environ.get("DSR_DEFAULT_AUTO_FIELD", "django.db.models.AutoField")

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Host layouts for the block-contract tests, and the login page.
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

_db_name = os.environ.get("DSR_DB_NAME", "dsr")
# The end-to-end tests start a Celery worker on the test database: they pass its name here.
_worker_db = os.environ.get("DSR_WORKER_DB")
_database = os.environ.get("DSR_DATABASE", "sqlite")
if _database == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _worker_db or _db_name,
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "TEST": {"NAME": os.environ.get("DSR_TEST_DB_NAME", f"test_{_db_name}")},
        }
    }
elif _database == "mariadb":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": _worker_db or _db_name,
            "USER": os.environ.get("MYSQL_USER", "root"),
            "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MYSQL_PORT", "3306"),
            # What Django recommends for MySQL and MariaDB: full Unicode, and READ COMMITTED
            # (the rule-set version and the delivery claim read what other workers committed).
            "OPTIONS": {"charset": "utf8mb4", "isolation_level": "read committed"},
            "TEST": {
                "NAME": os.environ.get("DSR_TEST_DB_NAME", f"test_{_db_name}"),
                "CHARSET": "utf8mb4",
                "COLLATION": "utf8mb4_unicode_ci",
            },
        }
    }
elif _database == "sqlite":
    # A file, not :memory:, so the Celery worker of the end-to-end tests sees the same data.
    _sqlite_test = os.environ.get(
        "DSR_TEST_DB_NAME",
        os.path.join(tempfile.gettempdir(), f"test_{_db_name}_{os.getpid()}.sqlite3"),
    )
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _worker_db or os.path.join(tempfile.gettempdir(), f"{_db_name}.sqlite3"),
            "TEST": {"NAME": _sqlite_test},
        }
    }
else:
    raise ValueError(f"DSR_DATABASE={_database!r}: use sqlite, postgres or mariadb.")

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("DSR_TEST_QUEUE", "alerts")
# The package's recovery, every minute, as docs/operations.md has hosts schedule it (the
# fault tests' workers run celery beat with a short period).
CELERY_BEAT_SCHEDULE = {
    "slack-rules-recovery": {
        "task": "django_slack_rules.tasks.recover_stranded",
        "schedule": float(os.environ.get("DSR_RECOVERY_EVERY") or 60),
    }
}

SLACK_INTERNAL_ENDPOINT = os.environ.get(
    "SLACK_INTERNAL_ENDPOINT", "http://127.0.0.1:9/slack-proxy/"
)
SLACK_RULES = {
    "SIGNAL": "tests.alerts.signals.alert_processed",
    "ALERT_MODEL": "alerts.AlertGroup",
    "BACKEND": "django_slack_rules.backends.InternalProxyBackend",
    "QUEUE": os.environ.get("DSR_TEST_QUEUE") or None,
    "RETRY_BACKOFF_BASE": 0.2,
    "RETRY_BACKOFF_MAX": 2.0,
    "CONNECT_TIMEOUT": 1.0,
    "READ_TIMEOUT": 2.0,
    # The end-to-end tests start workers for a gateway in bot mode.
    "GATEWAY_MODE": os.environ.get("DSR_GATEWAY_MODE", "webhook"),
    # The fault tests' workers recover what is stranded after a few seconds, and fold a
    # short line into a digest.
    "RECOVERY_AFTER": float(os.environ.get("DSR_RECOVERY_AFTER", "60")),
    "DIGEST_AFTER": int(os.environ.get("DSR_DIGEST_AFTER", "10")),
    # "none": a worker without pacing (the package's default is 1 per second per channel).
    "CHANNEL_RATE": None if os.environ.get("DSR_CHANNEL_RATE") == "none" else 1.0,
}

STATIC_URL = "/static/"

# The rule pages (django_slack_rules.urls): crispy-forms with the Bootstrap 5 pack, and a
# login page of the host's own (tests/templates/registration/login.html).
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "django_slack_rules:rule-list"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_slack_rules": {"handlers": ["console"], "level": "INFO"}},
}
