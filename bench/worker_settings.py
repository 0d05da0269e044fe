"""Django settings of the benchmarks' Celery worker (``worker.py``): the test host's, with what
SentryHub's do for a worker (a database connection per task, results in Redis, every logger at
INFO into its log file); the package's settings at their defaults, but the pace asked for."""

from __future__ import annotations

import json
import os

from tests.settings import *  # noqa: F403 - the test host's settings, overridden below
from tests.settings import SLACK_RULES as TEST_SLACK_RULES

env = os.environ
DEBUG = False
DATABASES = {"default": json.loads(env["DSR_BENCH_DATABASE"])}  # the benchmark's
DATABASES["default"]["CONN_MAX_AGE"] = int(env.get("DSR_BENCH_CONN_MAX_AGE", "0"))
if DATABASES["default"]["CONN_MAX_AGE"]:
    # Celery's Django fix-up closes the connections after every task unless told to reuse
    # them: a host that keeps connections sets both.
    CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_URL = CELERY_RESULT_BACKEND = env["DSR_BENCH_BROKER"]
CELERY_TASK_DEFAULT_QUEUE = env["DSR_BENCH_QUEUE"]
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False  # nothing but the benchmark's queue in Redis

SLACK_INTERNAL_ENDPOINT = env["SLACK_INTERNAL_ENDPOINT"]
SLACK_DEFAULT_CHANNEL = "#general"  # SentryHub's setting, read by the baseline
SLACK_RULES = {key: TEST_SLACK_RULES[key] for key in ("SIGNAL", "ALERT_MODEL")}
if "DSR_BENCH_CHANNEL_RATE" in env:
    rate = env["DSR_BENCH_CHANNEL_RATE"]
    SLACK_RULES["CHANNEL_RATE"] = None if rate == "none" else float(rate)
    SLACK_RULES["CHANNEL_BURST"] = int(env["DSR_BENCH_CHANNEL_BURST"])
LOGGING = {"version": 1, "disable_existing_loggers": False}
