"""The shipped migrations match the models, whatever the host's DEFAULT_AUTO_FIELD."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "auto_field", ["django.db.models.AutoField", "django.db.models.BigAutoField"]
)
def test_no_missing_migrations(auto_field):
    # A fresh process: models take DEFAULT_AUTO_FIELD when they are first imported.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DSR_DEFAULT_AUTO_FIELD": auto_field,
    }
    done = subprocess.run(
        [sys.executable, "-m", "django", "makemigrations", "--check", "--dry-run", "-v", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No changes detected" in done.stdout


@pytest.mark.django_db(transaction=True)
def test_rows_recorded_before_the_outbox_still_send_after_the_upgrade(outbox, eager):
    """A pending delivery the broker refused and a delivery waiting in a line whose drain was
    lost, both recorded by the version before the outbox (0005), are sent after ``migrate``,
    by the recovery alone."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    from django_slack_rules.models import SlackDelivery
    from django_slack_rules.tasks import requeue_stranded

    app = "django_slack_rules"
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes(app)
    before = [(app, "0005_storms")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    common = {"alert_status": "firing", "created_at": long_ago, "updated_at": long_ago}
    Delivery = old.get_model(app, "SlackDelivery")
    Delivery.objects.create(
        idempotency_key="rule:1|alert:1|firing|occ:1", alert_id="1", channel="#db", text="refused",
        last_error="Not queued: the Celery broker refused it. Run `manage.py slack_rules_requeue`.",
        **common,
    )  # fmt: skip
    Delivery.objects.create(
        idempotency_key="rule:1|alert:2|firing|occ:2", alert_id="2", channel="#storm",
        text="waiting", waiting_since=long_ago, **common,
    )  # fmt: skip
    Pace = old.get_model(app, "DestinationPace")
    Pace.objects.create(destination="#storm", tat=0, drain_at=long_ago.timestamp(), drain_token=7)
    Delivery.objects.update(created_at=long_ago, updated_at=long_ago)  # past auto_now

    MigrationExecutor(connection).migrate(latest)
    requeue_stranded()
    assert sorted(m.text for m in outbox) == ["refused", "waiting"]
    assert set(SlackDelivery.objects.values_list("state", flat=True)) == {"sent"}
