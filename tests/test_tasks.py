"""The task: render, record, claim, send once, retry what can succeed later."""

from __future__ import annotations

import contextlib
import datetime
import logging
import time

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from django_slack_rules.adapters import AlertGroupAdapter
from django_slack_rules.exceptions import SlackSendCancelled
from django_slack_rules.models import DeliveryState, DestinationPause, SlackDelivery
from django_slack_rules.services.delivery import RetryLater, deliver
from django_slack_rules.services.outbox import record_one
from django_slack_rules.services.pacing import WaitForSlot
from django_slack_rules.signals import post_send, pre_send
from django_slack_rules.tasks import process_slack_for_alert_group
from tests.factories import AlertInstanceFactory, RuleFactory

pytestmark = pytest.mark.django_db


def retry_in(delivery):
    """Deliver, which must ask for a retry: the countdown it asks for."""
    with pytest.raises(RetryLater) as retry:
        deliver(delivery)
    return retry.value.countdown


def run(alert, rule, **kwargs):
    return process_slack_for_alert_group.apply(args=(alert.pk, rule.pk), kwargs=kwargs).get()


@pytest.fixture
def alert():
    instance = AlertInstanceFactory(
        alert_group__name="DiskFull",
        alert_group__severity="critical",
        alert_group__labels={"alertname": "DiskFull", "team": "db", "severity": "critical"},
        annotations={"summary": "Disk 95% full", "description": "on /var"},
    )
    return instance.alert_group


@pytest.fixture
def rule():
    return RuleFactory(
        name="db",
        match_criteria={"team": "db"},
        slack_channel="#db",
        message_template="*{{ alertname }}* ({{ severity }}): {{ summary }}",
        resolved_message_template=":white_check_mark: {{ alertname }} resolved",
    )


def test_renders_records_and_sends(alert, rule, slack_endpoint, eager):
    assert run(alert, rule, status="firing") == "sent"
    [request] = slack_endpoint.wait_for_requests(1)
    assert request.json() == {"channel": "#db", "text": "*DiskFull* (critical): Disk 95% full"}
    delivery = SlackDelivery.objects.get()
    assert delivery.state == DeliveryState.SENT
    assert delivery.attempts == 1
    assert (delivery.rule, delivery.rule_name, delivery.channel) == (rule, "db", "#db")
    assert delivery.fingerprint == alert.fingerprint
    assert delivery.http_status == 200
    assert delivery.response == "ok"
    assert delivery.sent_at is not None


def test_running_twice_posts_once(alert, rule, slack_endpoint, eager):
    occurrence = str(alert.instances.get().pk)
    assert run(alert, rule, status="firing", occurrence=occurrence) == "sent"
    assert run(alert, rule, status="firing", occurrence=occurrence) == "sent"
    assert len(slack_endpoint.requests) == 1
    assert SlackDelivery.objects.count() == 1


def test_a_new_occurrence_notifies_again(alert, rule, slack_endpoint, eager):
    run(alert, rule, status="firing")
    AlertInstanceFactory(alert_group=alert, started_at=timezone.now())
    run(alert, rule, status="firing")
    run(alert, rule, status="resolved")
    texts = [r.json()["text"] for r in slack_endpoint.wait_for_requests(3)]
    assert texts[2] == ":white_check_mark: DiskFull resolved"
    assert SlackDelivery.objects.count() == 3


def test_no_resolved_template_sends_nothing(alert, rule, slack_endpoint, eager):
    rule.resolved_message_template = ""
    rule.save()
    assert run(alert, rule, status="resolved") == "no-template"
    assert slack_endpoint.requests == []


def test_missing_alert_or_rule_ends_without_retry(alert, rule, outbox, eager, caplog):
    assert process_slack_for_alert_group.apply(args=(999999, rule.pk)).get() == "no-alert"
    assert process_slack_for_alert_group.apply(args=(alert.pk, 999999)).get() == "no-rule"
    assert outbox == []
    assert "Alert 999999 no longer exists" in caplog.text


def test_retries_after_a_server_error_then_sends(alert, rule, slack_endpoint, eager):
    slack_endpoint.respond_server_error(500, times=2)
    assert run(alert, rule) == "sent"
    assert len(slack_endpoint.wait_for_requests(3)) == 3
    delivery = SlackDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.SENT, 3)


def test_permanent_error_is_recorded_and_not_retried(alert, rule, slack_endpoint, eager, caplog):
    slack_endpoint.respond_error(404, "channel_not_found")
    assert run(alert, rule) == "failed"
    assert len(slack_endpoint.requests) == 1
    delivery = SlackDelivery.objects.get()
    assert delivery.state == DeliveryState.FAILED
    assert (delivery.http_status, delivery.slack_error) == (404, "channel_not_found")
    assert "channel_not_found" in delivery.last_error
    assert alert.fingerprint in caplog.text


def test_gives_up_after_max_attempts(alert, rule, slack_endpoint, slack_rules, eager):
    slack_rules(MAX_ATTEMPTS=3)
    slack_endpoint.respond_server_error(503, times=5)
    assert run(alert, rule) == "failed"
    assert len(slack_endpoint.requests) == 3
    delivery = SlackDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.http_status) == ("failed", 3, 503)


def test_backoff_grows_and_stays_below_the_cap(alert, rule, slack_endpoint, slack_rules):
    # Six attempts in a row to one channel: without pacing, which would make them wait.
    slack_rules(RETRY_BACKOFF_BASE=10, RETRY_BACKOFF_MAX=60, MAX_ATTEMPTS=10, CHANNEL_RATE=None)
    delivery = SlackDelivery.objects.create(
        idempotency_key="k", alert_id=str(alert.pk), alert_status="firing", channel="#db", text="x"
    )
    slack_endpoint.respond_server_error(500, times=6)
    countdowns = []
    for _ in range(6):
        delivery.refresh_from_db()
        countdowns.append(retry_in(delivery))
    assert 5 <= countdowns[0] <= 10
    assert 10 <= countdowns[1] <= 20
    assert all(c <= 60 for c in countdowns)
    assert max(countdowns[3:]) >= 30
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 6)


def wait_in_line(delivery):
    """Deliver, which must make it wait for its channel's slot: the WaitForSlot."""
    with pytest.raises(WaitForSlot) as waiting:
        deliver(delivery)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.waiting_since is not None) == (DeliveryState.PENDING, True)
    return waiting.value


def test_rate_limit_pauses_the_whole_channel(alert, rule, slack_endpoint):
    first = SlackDelivery.objects.create(
        idempotency_key="a", alert_id="1", alert_status="firing", channel="#db", text="one"
    )
    slack_endpoint.respond_rate_limited(retry_after=30)
    limited = wait_in_line(first)
    assert 29 <= limited.next_at - time.time() <= 30
    assert limited.drain is not None  # the channel's drain, due when the pause ends
    assert 29 <= limited.drain.countdown <= 30
    assert 29 <= DestinationPause.remaining("#db") <= 30
    assert first.attempts == 0  # a rate limit uses no attempt
    assert first.failure_reason == "rate_limited"

    # Another message to the same channel waits in line, without sending or using an
    # attempt; the drain is due already.
    second = SlackDelivery.objects.create(
        idempotency_key="b", alert_id="2", alert_status="firing", channel="#db", text="two"
    )
    waiting = wait_in_line(second)
    assert waiting.drain is None
    assert waiting.next_at - time.time() >= 29
    assert second.attempts == 0
    assert len(slack_endpoint.requests) == 1

    # Other channels are not paused.
    other = SlackDelivery.objects.create(
        idempotency_key="c", alert_id="3", alert_status="firing", channel="#web", text="three"
    )
    assert deliver(other) == "sent"


def test_without_pacing_a_rate_limit_pauses_the_channel_by_retries(
    alert, rule, slack_endpoint, slack_rules
):
    slack_rules(CHANNEL_RATE=None)
    first = SlackDelivery.objects.create(
        idempotency_key="a", alert_id="1", alert_status="firing", channel="#db", text="one"
    )
    slack_endpoint.respond_rate_limited(retry_after=30)
    assert 30 <= retry_in(first) <= 31
    assert 29 <= DestinationPause.remaining("#db") <= 30

    # Another message to the same channel waits without sending or using an attempt.
    second = SlackDelivery.objects.create(
        idempotency_key="b", alert_id="2", alert_status="firing", channel="#db", text="two"
    )
    assert 29 <= retry_in(second) <= 31
    second.refresh_from_db()
    assert (second.state, second.attempts, second.waiting_since) == (DeliveryState.PENDING, 0, None)
    assert len(slack_endpoint.requests) == 1

    other = SlackDelivery.objects.create(
        idempotency_key="c", alert_id="3", alert_status="firing", channel="#web", text="three"
    )
    assert deliver(other) == "sent"


@pytest.mark.parametrize("rate", [1.0, None], ids=["paced", "unpaced"])
def test_rate_limit_without_retry_after_backs_off(alert, rule, slack_endpoint, slack_rules, rate):
    slack_rules(CHANNEL_RATE=rate)
    delivery = SlackDelivery.objects.create(
        idempotency_key="a", alert_id="1", alert_status="firing", channel="#db", text="one"
    )
    slack_endpoint.queue_response(status=429, body="<html>limit</html>", content_type="text/html")
    if rate is None:
        assert retry_in(delivery) > 0
    else:
        assert wait_in_line(delivery).next_at > time.time()
    assert DestinationPause.remaining("#db") > 0


def test_a_delivery_claimed_elsewhere_is_not_sent_but_checked_after_the_lease(slack_endpoint):
    now = timezone.now()
    claimed = SlackDelivery.objects.create(
        idempotency_key="a", alert_id="1", alert_status="firing", channel="#db", text="x",
        state=DeliveryState.SENDING, claimed_at=now, attempts=1,
    )  # fmt: skip
    countdown = retry_in(claimed)
    assert slack_endpoint.requests == []
    # Test settings: two calls at connect 1 s + read 2 s, a 5 s margin, up to 1 s of jitter.
    assert 10 <= countdown <= 12
    # A claim older than the lease was abandoned by a dead worker: it is taken over.
    SlackDelivery.objects.filter(pk=claimed.pk).update(claimed_at=now - datetime.timedelta(hours=1))
    claimed.refresh_from_db()
    assert deliver(claimed) == "sent"
    claimed.refresh_from_db()
    assert claimed.attempts == 2
    assert len(slack_endpoint.requests) == 1


def test_a_sent_delivery_is_not_sent_again(slack_endpoint):
    sent = SlackDelivery.objects.create(
        idempotency_key="a", alert_id="1", alert_status="firing", channel="#db", text="x",
        state=DeliveryState.SENT, attempts=1,
    )  # fmt: skip
    assert deliver(sent) == "sent"
    assert slack_endpoint.requests == []


def test_template_error_at_render_time_sends_a_fallback(alert, rule, slack_endpoint, eager, caplog):
    rule.message_template = "{% for a, b in labels %}{{ a }}{% endfor %}"
    rule.save()
    with caplog.at_level(logging.ERROR):
        assert run(alert, rule) == "sent"
    text = slack_endpoint.wait_for_requests(1)[0].json()["text"]
    assert "[FIRING] DiskFull" in text
    assert "rule db" in text
    assert "message failed to render" in caplog.text
    assert alert.fingerprint in caplog.text


def test_pre_send_cancel_is_recorded(alert, rule, outbox, eager):
    def cancel(**kwargs):
        raise SlackSendCancelled("quiet hours")

    pre_send.connect(cancel)
    try:
        assert run(alert, rule) == "cancelled"
    finally:
        pre_send.disconnect(cancel)
    delivery = SlackDelivery.objects.get()
    assert delivery.state == DeliveryState.CANCELLED
    assert "quiet hours" in delivery.last_error
    assert outbox == []


@contextlib.contextmanager
def receiver_of(signal, receiver):
    signal.connect(receiver)
    try:
        yield
    finally:
        signal.disconnect(receiver)


def broken_metrics(error=None, **kwargs):
    raise RuntimeError("metrics backend down")


def test_a_raising_post_send_receiver_leaves_an_accepted_message_sent(
    alert, rule, slack_endpoint, eager, caplog
):
    with receiver_of(post_send, broken_metrics), caplog.at_level(logging.ERROR):
        assert run(alert, rule, status="firing") == "sent"
    assert len(slack_endpoint.requests) == 1
    delivery = SlackDelivery.objects.get()
    assert (delivery.state, delivery.last_error) == (DeliveryState.SENT, "")
    # Nothing offers a resend that would post the alert twice; the log names the receiver.
    assert "tests.test_tasks.broken_metrics raised RuntimeError: metrics backend down" in (
        caplog.text
    )
    assert alert.fingerprint in caplog.text


def test_a_raising_post_send_receiver_does_not_turn_a_retryable_error_final(
    alert, rule, slack_endpoint, eager
):
    slack_endpoint.respond_server_error(503)
    with receiver_of(post_send, broken_metrics):
        assert run(alert, rule, status="firing") == "sent"
    assert len(slack_endpoint.wait_for_requests(2)) == 2
    delivery = SlackDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.SENT, 2)


def test_a_raising_pre_send_receiver_does_not_stop_the_message(
    alert, rule, slack_endpoint, eager, caplog
):
    with receiver_of(pre_send, broken_metrics):
        assert run(alert, rule, status="firing") == "sent"
    assert len(slack_endpoint.requests) == 1
    assert "pre_send receiver tests.test_tasks.broken_metrics raised RuntimeError" in caplog.text


def test_a_cancel_still_cancels_when_another_pre_send_receiver_raises(alert, rule, outbox, eager):
    def cancel(**kwargs):
        raise SlackSendCancelled("quiet hours")

    with receiver_of(pre_send, broken_metrics), receiver_of(pre_send, cancel):
        assert run(alert, rule) == "cancelled"
    assert outbox == []


def test_misconfiguration_is_recorded_not_retried(alert, rule, settings, monkeypatch, eager):
    monkeypatch.delenv("SLACK_INTERNAL_ENDPOINT", raising=False)
    settings.SLACK_INTERNAL_ENDPOINT = ""
    assert run(alert, rule) == "failed"
    assert "SLACK_INTERNAL_ENDPOINT is not set" in SlackDelivery.objects.get().last_error


def test_context_is_plain_escaped_data(alert, rule, outbox, eager):
    alert.labels = {**alert.labels, "team": "db", "note": "<!channel> & <https://x|y>"}
    alert.save()
    rule.message_template = (
        "{{ labels.note }}|{{ alert_group.name }}|{{ alert_group.total_firing_count }}|"
        "{{ latest_instance.annotations.description }}|{{ rule.name }}|{{ status }}|"
        "{{ alert_group.labels.team }}|{{ started_at|date:'Y' }}|{{ alert_group.save }}"
    )
    rule.save()
    run(alert, rule)
    [message] = outbox
    year = timezone.now().year
    assert message.text == (
        f"&lt;!channel&gt; &amp; &lt;https://x|y&gt;|DiskFull|1|on /var|db|firing|db|{year}|"
    )  # the label cannot mention or link; alert_group.save is not reachable


def test_a_retry_sends_the_recorded_message_after_the_alert_is_deleted(alert, rule, slack_endpoint):
    args = {"status": "firing", "occurrence": str(alert.instances.get().pk)}
    slack_endpoint.respond_server_error(503)
    with pytest.raises(Retry):  # Celery's: the task turns RetryLater into self.retry
        process_slack_for_alert_group.run(alert.pk, rule.pk, **args)
    alert_id, rule_id = alert.pk, rule.pk
    alert.delete()
    rule.delete()
    assert process_slack_for_alert_group.run(alert_id, rule_id, **args) == "sent"
    first, second = slack_endpoint.wait_for_requests(2)
    assert second.json() == first.json()
    assert second.json()["text"] == "*DiskFull* (critical): Disk 95% full"


def test_an_adapter_failure_still_sends_a_fallback(alert, rule, outbox, slack_rules, eager, caplog):
    slack_rules(ADAPTER="tests.test_tasks.ContextlessAdapter")
    assert run(alert, rule) == "sent"
    [message] = outbox
    assert message.text.startswith("[FIRING] DiskFull")
    assert alert.fingerprint in message.text
    assert "message failed to render" in caplog.text


class ContextlessAdapter(AlertGroupAdapter):
    def get_context(self, *args, **kwargs):
        raise RuntimeError("adapter bug")


def test_recording_a_notification_twice_keeps_the_first_record(alert, rule):
    # A task queued with the two ids twice (a redelivery): the second gets the first's row.
    occurrence = AlertGroupAdapter().get_occurrence_key(alert)
    first = record_one(alert.pk, rule.pk, "firing", occurrence)
    rule.message_template = "changed since"
    rule.save()
    second = record_one(alert.pk, rule.pk, "firing", occurrence)
    assert second == first
    assert SlackDelivery.objects.get().text == "*DiskFull* (critical): Disk 95% full"
