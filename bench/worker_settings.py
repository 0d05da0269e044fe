"""Django settings of the Celery worker that ``bench/delivery.py --worker`` starts.

The test host's settings (``tests/settings.py``: the ``alerts`` app, SentryHub's in-tree rule
model, the package), with what the benchmark passes in the environment and what SentryHub's
own settings do for a worker:

* PostgreSQL with ``CONN_MAX_AGE = 0`` (SentryHub sets none): a new database connection
  for every task, closed by Celery's Django fix-up when the task ends;
* Celery results stored in Redis (SentryHub's ``CELERY_RESULT_BACKEND``), on the broker's
  database; the package's task ignores results, SentryHub's stores them;
* every logger at INFO into the worker's log file (SentryHub logs the root logger at INFO);
* the package's ``SLACK_RULES`` at their defaults, apart from the host's signal and model
  and the pace the benchmark asks for (``DSR_BENCH_CHANNEL_RATE``: a number, or "none";
  ``DSR_BENCH_CHANNEL_BURST``);
* ``DEBUG`` off (SentryHub's settings.py has it on; ``--debug`` turns it on here too).

Environment (set by the benchmark): ``DSR_BENCH_DB``, ``PGHOST``/``PGPORT``/``PGUSER``,
``DSR_BENCH_BROKER``, ``DSR_BENCH_QUEUE``, ``SLACK_INTERNAL_ENDPOINT``, ``DSR_BENCH_DEBUG``,
``DSR_BENCH_CHANNEL_RATE``, ``DSR_BENCH_CHANNEL_BURST``.
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
