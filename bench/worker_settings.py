"""Django settings of the benchmarks' Celery worker (``bench/worker.py``): the test host's
(``tests/settings.py``), with what SentryHub's settings do for a worker: PostgreSQL at
``CONN_MAX_AGE = 0`` (a new connection per task), Celery results in Redis, every logger at
INFO into the worker's log file, ``DEBUG`` off (``--debug``: on, as SentryHub's). The package's
``SLACK_RULES`` at their defaults, but the host's signal and model and the pace asked for.
The benchmark passes the rest in ``DSR_BENCH_*``, ``PG*`` and ``SLACK_INTERNAL_ENDPOINT``.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403 - the test host's settings, overridden below
from tests.settings import SLACK_RULES as TEST_SLACK_RULES

DEBUG = os.environ.get("DSR_BENCH_DEBUG") == "1"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["DSR_BENCH_DB"],
        "USER": os.environ.get("PGUSER", "postgres"),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "CONN_MAX_AGE": int(os.environ.get("DSR_BENCH_CONN_MAX_AGE", "0")),
    }
}
if DATABASES["default"]["CONN_MAX_AGE"]:
    # Celery's Django fix-up closes the connections after every task unless told to reuse
    # them: a host that keeps connections sets both.
    CELERY_DB_REUSE_MAX = 1000

CELERY_BROKER_URL = os.environ["DSR_BENCH_BROKER"]
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_DEFAULT_QUEUE = os.environ["DSR_BENCH_QUEUE"]
# Nothing but the benchmark's queue in Redis: no remote-control mailbox.
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False

SLACK_INTERNAL_ENDPOINT = os.environ["SLACK_INTERNAL_ENDPOINT"]
SLACK_RULES = {
    "SIGNAL": TEST_SLACK_RULES["SIGNAL"],
    "ALERT_MODEL": TEST_SLACK_RULES["ALERT_MODEL"],
}
_rate = os.environ.get("DSR_BENCH_CHANNEL_RATE")
if _rate:
    SLACK_RULES["CHANNEL_RATE"] = None if _rate == "none" else float(_rate)
if os.environ.get("DSR_BENCH_CHANNEL_BURST"):
    SLACK_RULES["CHANNEL_BURST"] = int(os.environ["DSR_BENCH_CHANNEL_BURST"])
SLACK_DEFAULT_CHANNEL = "#general"  # SentryHub's setting, read by the baseline

# No handlers of our own: the worker's --logfile handler on the root logger gets everything
# at --loglevel (INFO), once, for the package and the baseline alike.
LOGGING = {"version": 1, "disable_existing_loggers": False}
