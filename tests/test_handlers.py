"""The signal receiver: wired by a dotted path, decides, matches, dispatches on commit."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction
from django.dispatch import Signal

from django_slack_rules import handlers
from django_slack_rules.models import SlackDelivery, SlackIntegrationRule
from tests.alerts.models import AlertGroup
from tests.alerts.signals import alert_processed
from tests.factories import AlertInstanceFactory, RuleFactory
from tests.utils import fan_out_rules, fire

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance():
    return AlertInstanceFactory(
        alert_group__labels={"alertname": "HighCPU", "team": "web"},
        annotations={"summary": "CPU 99%"},
    )


@pytest.fixture
def alert(instance):
    return instance.alert_group


def test_firing_alert_is_sent_after_commit(
    alert, instance, rule, outbox, eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        fire(alert, instance)
        assert outbox == []  # nothing before the commit
    assert len(callbacks) == 1
    assert [(m.channel, m.text) for m in outbox] == [("#web", "HighCPU: CPU 99%")]
    assert SlackDelivery.objects.get().occurrence == str(instance.pk)


def test_same_occurrence_signalled_twice_posts_once(
    alert, instance, rule, outbox, eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        fire(alert, instance)
        fire(alert, instance)
    assert len(outbox) == 1


def test_silenced_alert_sends_nothing(
    alert, rule, outbox, eager, django_capture_on_commit_callbacks
):
    alert.is_silenced = True
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        fire(alert)
    assert callbacks == []
    assert outbox == []


def test_no_matching_rule_sends_nothing(alert, outbox, eager, django_capture_on_commit_callbacks):
    RuleFactory(match_criteria={"team": "db"})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        fire(alert)
    assert callbacks == []


def test_resolved_needs_a_resolved_template(
    alert, rule, outbox, eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        fire(alert, status="resolved")
    assert [m.text for m in outbox] == ["HighCPU resolved"]
    rule.resolved_message_template = ""
    rule.save()
    outbox.clear()
    SlackDelivery.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        fire(alert, status="resolved")
    assert callbacks == []
    assert outbox == []


def test_highest_priority_rule_wins(alert, rule, outbox, eager, django_capture_on_commit_callbacks):
    RuleFactory(name="catch-all", priority=-1, match_criteria={}, slack_channel="#all")
    RuleFactory(
        name="urgent", priority=10, match_criteria={"alertname": "HighCPU"}, slack_channel="#urgent"
    )
    with django_capture_on_commit_callbacks(execute=True):
        fire(alert)
    assert [m.channel for m in outbox] == ["#urgent"]


def test_an_alert_fans_out_to_one_message_per_rule(
    alert, instance, outbox, eager, django_capture_on_commit_callbacks
):
    fan_out_rules()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queued = handlers.handle_alert(alert, instance=instance, status="firing")
    assert [rule.name for rule in queued] == ["pager", "web"]
    assert len(callbacks) == 1  # at commit, one task per rule is queued
    assert sorted((m.channel, m.text) for m in outbox) == [
        ("#pager", "page: HighCPU"),
        ("#web", "web: HighCPU"),
    ]
    deliveries = SlackDelivery.objects.order_by("rule_name")
    assert [(d.rule_name, d.state, d.attempts) for d in deliveries] == [
        ("pager", "sent", 1),
        ("web", "sent", 1),
    ]
    assert len({d.idempotency_key for d in deliveries}) == 2


def test_each_rule_of_a_fan_out_posts_once_when_signalled_twice(
    alert, instance, outbox, eager, django_capture_on_commit_callbacks
):
    fan_out_rules()
    with django_capture_on_commit_callbacks(execute=True):
        fire(alert, instance)
        fire(alert, instance)
    assert sorted(m.channel for m in outbox) == ["#pager", "#web"]
    assert SlackDelivery.objects.count() == 2


def test_a_rule_without_a_resolved_template_passes_the_alert_on_but_sends_nothing(
    alert, instance, outbox, eager, django_capture_on_commit_callbacks
):
    fan_out_rules()
    with django_capture_on_commit_callbacks(execute=True):
        fire(alert, instance, status="resolved")
    assert [(m.channel, m.text) for m in outbox] == [("#web", "web: HighCPU resolved")]


def test_a_broker_failure_for_one_rule_of_a_fan_out_keeps_it_pending(
    alert, instance, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from django_slack_rules import tasks

    fan_out_rules()
    pager = SlackIntegrationRule.objects.get(name="pager")
    sent = []

    def refuse_the_pager(*, args, kwargs, **options):
        if args[1] == pager.pk:
            raise ConnectionError("broker down")
        sent.append(args)

    monkeypatch.setattr(tasks.process_slack_for_alert_group, "apply_async", refuse_the_pager)
    with django_capture_on_commit_callbacks(execute=True):
        fire(alert, instance)
    # The broker refused the first: the rest are not tried (each try could wait for it).
    assert sent == []
    pending = SlackDelivery.objects.order_by("rule_name")
    assert [(d.rule_name, d.state) for d in pending] == [("pager", "pending"), ("web", "pending")]
    assert "Could not queue 2 Slack notification(s)" in caplog.text
    assert "the recovery task" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_sends_nothing(rule, outbox, eager):
    with pytest.raises(RuntimeError), transaction.atomic():
        instance = AlertInstanceFactory(alert_group__labels={"team": "web"})
        fire(instance.alert_group, instance)
        raise RuntimeError("the host's alert processing failed")
    assert outbox == []
    assert SlackDelivery.objects.count() == 0


def test_the_handler_never_raises_into_the_host(alert, rule, slack_rules, caplog):
    slack_rules(ADAPTER="tests.test_handlers.BrokenAdapter")
    with caplog.at_level(logging.ERROR):
        fire(alert)  # does not raise
    assert alert.fingerprint in caplog.text
    assert "could not handle alert" in caplog.text


def test_a_broker_failure_is_logged_not_raised(
    alert, rule, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    from django_slack_rules import tasks

    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.process_slack_for_alert_group, "apply_async", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        fire(alert)
    assert "Could not queue 1 Slack notification(s)" in caplog.text
    assert alert.fingerprint in caplog.text
    assert SlackDelivery.objects.get().state == "pending"  # the recovery task queues it


def test_queue_setting_routes_the_task(
    alert, rule, slack_rules, monkeypatch, django_capture_on_commit_callbacks
):
    from django_slack_rules import tasks

    sent = []
    monkeypatch.setattr(
        tasks.process_slack_for_alert_group, "apply_async", lambda **kw: sent.append(kw)
    )
    slack_rules(QUEUE="slack")
    with django_capture_on_commit_callbacks(execute=True):
        fire(alert)
    [options] = sent
    assert options["queue"] == "slack"
    assert options["args"] == (alert.pk, rule.pk)
    assert options["kwargs"] == {"delivery_id": SlackDelivery.objects.get().pk}


def test_signal_setting_is_followed(
    alert, rule, slack_rules, outbox, eager, django_capture_on_commit_callbacks
):
    slack_rules(SIGNAL="tests.test_handlers.other_signal")
    with django_capture_on_commit_callbacks(execute=True):
        fire(alert)  # the old signal is no longer connected
        other_signal.send(sender=AlertGroup, alert_group=alert, status="firing")
    assert len(outbox) == 1
    slack_rules(SIGNAL=None)
    assert handlers._Connection.signal is None
    assert not other_signal.has_listeners()
    assert not alert_processed.has_listeners()


def test_connected_to_the_configured_signal_at_startup():
    assert alert_processed.has_listeners(AlertGroup)


other_signal = Signal()


class BrokenAdapter:
    def get_fingerprint(self, alert):
        return alert.fingerprint

    def get_status(self, alert):
        raise RuntimeError("adapter bug")
