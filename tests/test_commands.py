"""Operations commands: slack_rules_requeue (nothing lost after a broker outage) and
slack_rules_prune."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import CommandError
from django.utils import timezone
from kombu.exceptions import OperationalError

from django_slack_rules import tasks
from django_slack_rules.models import DeliveryState, SlackDelivery
from django_slack_rules.services.pacing import lease_seconds
from tests.factories import AlertInstanceFactory, RuleFactory
from tests.utils import call, fire

pytestmark = pytest.mark.django_db


def age(delivery: SlackDelivery, seconds: float, **fields) -> None:
    past = timezone.now() - datetime.timedelta(seconds=seconds)
    SlackDelivery.objects.filter(pk=delivery.pk).update(updated_at=past, created_at=past, **fields)


@pytest.fixture
def rule():
    return RuleFactory(name="web", slack_channel="#web", message_template="{{ alertname }} fires")


@pytest.fixture
def delivery(rule):
    return SlackDelivery.objects.create(
        rule=rule,
        rule_name=rule.name,
        alert_id="1",
        fingerprint="fp-1",
        alert_status="firing",
        occurrence="1",
        idempotency_key="k-1",
        channel="#web",
        text="HighCPU fires",
    )


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.process_slack_for_alert_group, "apply_async", refuse)
    monkeypatch.setattr(tasks.send_slack_delivery, "apply_async", refuse)
    return monkeypatch


def test_an_alert_refused_by_the_broker_is_sent_by_requeue_once_it_is_back(
    rule, outbox, eager, broker_down, django_capture_on_commit_callbacks, caplog
):
    instance = AlertInstanceFactory(alert_group__labels={"alertname": "HighCPU"})
    alert = instance.alert_group
    with django_capture_on_commit_callbacks(execute=True):
        fire(alert, instance)
    assert outbox == []
    kept = SlackDelivery.objects.get()
    assert (kept.state, kept.channel, kept.text) == ("pending", "#web", "HighCPU fires")
    assert "Nothing is lost: they stay pending, and the recovery task" in caplog.text

    # While the broker is still down the command fails loudly and changes nothing.
    with pytest.raises(CommandError, match="Is the Celery broker reachable"):
        call("slack_rules_requeue")
    assert SlackDelivery.objects.get().state == DeliveryState.PENDING

    broker_down.undo()
    out = call("slack_rules_requeue")
    assert f"queued #{kept.pk}" in out
    assert [(m.channel, m.text) for m in outbox] == [("#web", "HighCPU fires")]
    assert SlackDelivery.objects.get().state == DeliveryState.SENT

    # Nothing is left to queue, and a second run sends nothing twice.
    assert "0 delivery(ies) and 0 line(s) queued" in call("slack_rules_requeue")
    assert len(outbox) == 1


def test_requeue_leaves_retrying_recent_and_finished_deliveries_alone(delivery, outbox, eager):
    retry_at = timezone.now() + datetime.timedelta(seconds=30)
    SlackDelivery.objects.filter(pk=delivery.pk).update(retry_at=retry_at)
    assert "0 delivery(ies)" in call("slack_rules_requeue")  # its retry is on its way
    assert "0 delivery(ies)" in call("slack_rules_requeue", "--older-than", "60")  # too recent
    age(delivery, 60, state=DeliveryState.SENT)
    assert "0 delivery(ies)" in call("slack_rules_requeue")
    assert outbox == []


def test_requeue_takes_over_a_delivery_abandoned_in_sending(delivery, outbox, eager):
    long_ago = timezone.now() - datetime.timedelta(seconds=lease_seconds() + 5)
    age(delivery, 3600, state=DeliveryState.SENDING, claimed_at=long_ago)
    out = call("slack_rules_requeue")
    assert f"queued #{delivery.pk} sending" in out
    assert [m.text for m in outbox] == ["HighCPU fires"]


def test_requeue_dry_run_queues_nothing(delivery, outbox, eager):
    age(delivery, 3600)
    out = call("slack_rules_requeue", "--dry-run")
    assert f"would queue #{delivery.pk}" in out
    assert outbox == []
    assert SlackDelivery.objects.get().state == DeliveryState.PENDING


def test_requeue_rejects_a_negative_age():
    with pytest.raises(CommandError, match="--older-than must be zero or more"):
        call("slack_rules_requeue", "--older-than", "-1")


def test_prune_deletes_old_finished_records_only(rule):
    def make(key, state, days):
        d = SlackDelivery.objects.create(
            rule=rule, alert_id="1", alert_status="firing", idempotency_key=key, state=state
        )
        age(d, days * 86400)
        return d

    make("old-sent", DeliveryState.SENT, 40)
    make("old-cancelled", DeliveryState.CANCELLED, 40)
    make("old-failed", DeliveryState.FAILED, 40)
    make("old-pending", DeliveryState.PENDING, 40)
    make("new-sent", DeliveryState.SENT, 1)

    assert "2 delivery record(s) would be deleted" in call("slack_rules_prune", "--dry-run")
    assert SlackDelivery.objects.count() == 5
    assert "2 delivery record(s) deleted" in call("slack_rules_prune")
    assert set(SlackDelivery.objects.values_list("idempotency_key", flat=True)) == {
        "old-failed",
        "old-pending",
        "new-sent",
    }
    call("slack_rules_prune", "--include-failed")
    assert set(SlackDelivery.objects.values_list("idempotency_key", flat=True)) == {
        "old-pending",
        "new-sent",
    }


def test_prune_rejects_negative_days():
    with pytest.raises(CommandError, match="--days must be zero or more"):
        call("slack_rules_prune", "--days", "-1")
