"""The test host's Celery app, as a host project defines it (SentryHub: sentryHub/celery.py)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The package's recovery, as a host schedules it with celery beat (docs/operations.md); the
# fault tests start a worker with beat inside and a short period.
if os.environ.get("DSR_RECOVERY_EVERY"):
    app.conf.beat_schedule = {
        "slack-rules-recovery": {
            "task": "django_slack_rules.tasks.recover_stranded",
            "schedule": float(os.environ["DSR_RECOVERY_EVERY"]),
            "options": {"queue": os.environ.get("DSR_TEST_QUEUE") or "celery"},
        }
    }
