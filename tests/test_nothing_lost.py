"""The paths that lost, stranded or wrongly dropped a notification (issue "Nothing lost, by
construction"), each closed. The fault tests with a real worker, broker and PostgreSQL are
in test_faults.py.
"""

from __future__ import annotations

import contextlib
import datetime
import time

import pytest
from celery.exceptions import Retry
from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from django_slack_rules import tasks
from django_slack_rules.adapters import AlertGroupAdapter
from django_slack_rules.models import (
    DeliveryState,
    DestinationPace,
    DestinationPause,
    SlackDelivery,
)
from django_slack_rules.services import claim, delivery, drain, pacing
from django_slack_rules.services.delivery import RetryLater
from tests.alerts.models import AlertGroup
from tests.factories import AlertInstanceFactory, DeliveryFactory, RuleFactory
from tests.fake_slack import FakeSlack
from tests.utils import call, fire, notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert():
    instance = AlertInstanceFactory(
        alert_group__name="DiskFull",
        alert_group__labels={"alertname": "DiskFull", "team": "db"},
        annotations={"summary": "Disk 95% full"},
    )
    return instance.alert_group


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed():`` the host's transaction commits: its on_commit callbacks run."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def db_rule():
    return RuleFactory(
        name="db",
        match_criteria={"team": "db"},
        slack_channel="#db",
        message_template="{{ alertname }}: {{ summary }}",
        resolved_message_template="{{ alertname }} resolved",
    )


# -- 1. the receiver never breaks the host's transaction -----------------------------------


class QueryingAdapter(AlertGroupAdapter):
    """An adapter whose database read fails (a table missing before ``migrate``, a timeout)."""

    def is_silenced(self, alert):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM dsr_no_such_table")
        return False


def test_a_database_error_in_the_receiver_leaves_the_hosts_transaction_usable(
    alert, db_rule, slack_rules, caplog
):
    slack_rules(ADAPTER="tests.test_nothing_lost.QueryingAdapter")
    with transaction.atomic():
        fire(alert)
        # The host goes on in its transaction (PostgreSQL would refuse: "current
        # transaction is aborted", had the error not been in a savepoint).
        assert AlertGroup.objects.filter(pk=alert.pk).update(severity="critical") == 1
    assert AlertGroup.objects.get(pk=alert.pk).severity == "critical"
    assert SlackDelivery.objects.count() == 0
    assert f"fingerprint={alert.fingerprint}" in caplog.text


# -- 2. a transient database error in the worker is retried --------------------------------


@contextlib.contextmanager
def database_unavailable():
    """A real transient error for the next statement of this process's connection: its
    backend terminated (PostgreSQL), its connection killed (MariaDB), or the database
    locked by another connection (SQLite). Restored on the way out."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        connection.connection.execute("PRAGMA busy_timeout = 50")
        other = connections.create_connection("default")
        with other.cursor() as cursor:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                cursor.execute("ROLLBACK")
                other.close()
        return
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_backend_pid()"
            if connection.vendor == "postgresql"
            else "SELECT CONNECTION_ID()"
        )
        (pid,) = cursor.fetchone()
    other = connections.create_connection("default")
    with other.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        else:
            cursor.execute(f"KILL CONNECTION {int(pid)}")
    other.close()
    try:
        yield
    finally:
        connection.close()  # what Celery's Django fix-up does after a task


@pytest.mark.django_db(transaction=True)
def test_a_transient_database_error_in_the_worker_is_retried_and_nothing_is_lost(
    alert, db_rule, slack_endpoint
):
    with transaction.atomic():
        fire(alert)
    recorded = SlackDelivery.objects.get()
    with database_unavailable(), pytest.raises(Retry):
        tasks.process_slack_for_alert_group.run(alert.pk, db_rule.pk, delivery_id=recorded.pk)
    recorded.refresh_from_db()
    assert (recorded.state, recorded.attempts) == ("pending", 0)
    assert tasks.send_slack_delivery.run(recorded.pk) == "sent"
    assert len(slack_endpoint.wait_for_requests(1)) == 1


# -- 3. a long channel label -------------------------------------------------------------


def test_a_channel_label_is_bounded_like_the_rules_channel(outbox, eager, committed):
    RuleFactory(name="by-label", slack_channel="", message_template="{{ alertname }}")
    longest = AlertInstanceFactory(alert_group__labels={"channel": "a" * 80}).alert_group
    too_long = AlertInstanceFactory(alert_group__labels={"channel": "b" * 81}).alert_group
    spaced = AlertInstanceFactory(alert_group__labels={"channel": "Team Web"}).alert_group
    with committed():
        for alert in (longest, too_long, spaced):
            fire(alert)
    rows = {row.alert_id: row for row in SlackDelivery.objects.all()}
    assert rows[str(longest.pk)].channel == "#" + "a" * 80  # Slack's longest name
    for alert in (too_long, spaced):
        row = rows[str(alert.pk)]
        assert row.channel == "#alerts"  # the default channel, and the record says why
        assert "is not a Slack channel" in row.note
    assert {row.state for row in rows.values()} == {"sent"}


# -- 4 and 5. the line's drain: stranded digests, a drain that outlived its lease ---------------


@pytest.fixture
def storm_rule(slack_rules):
    slack_rules(DIGEST_AFTER=2)
    return RuleFactory(name="storm", slack_channel="#storm", message_template="{{ instance }}")


def storm(rule, count):
    """``count`` alerts fire at once: the burst is sent, the rest wait; the armed drain."""
    armed = None
    for n in range(count):
        instance = AlertInstanceFactory(alert_group__instance=f"web-{n}")
        try:
            notify(instance.alert_group.pk, rule.pk, "firing", str(instance.pk))
        except pacing.WaitForSlot as waiting:
            armed = armed or waiting.drain
    return armed


def a_second_later():
    DestinationPace.objects.update(tat=F("tat") - 1)


def test_a_digest_left_sending_by_a_dead_worker_is_sent_by_the_recovery(storm_rule, outbox, eager):
    storm(storm_rule, 8)
    folded = drain.digest.fold(
        "#storm", list(pacing.waiting("#storm").values_list("pk", flat=True))
    )
    digest, count = folded
    assert (digest.state, count) == ("sending", 5)  # claimed, then the worker died
    long_ago = timezone.now() - datetime.timedelta(seconds=pacing.lease_seconds() + 1)
    SlackDelivery.objects.filter(pk=digest.pk).update(claimed_at=long_ago)
    found = tasks.requeue_stranded()
    assert [d.pk for d in found.deliveries] == [digest.pk]
    digest.refresh_from_db()
    assert digest.state == "sent"
    assert outbox[-1].text == digest.text


def test_a_drain_that_outlived_its_lease_queues_its_replacement(storm_rule, settings):
    with FakeSlack(api_mode=True) as slack:
        settings.SLACK_INTERNAL_ENDPOINT = f"{slack.url}/slack-proxy/"
        armed = storm(storm_rule, 5)  # three sent, two wait
        # The drain runs late, past its lease: it is given up for lost...
        late = time.time() - pacing.lease_seconds() - 1
        DestinationPace.objects.update(drain_at=late)
        a_second_later()
        slack.respond_rate_limited(retry_after=1)  # ...and Slack refuses its message.
        outcome = drain.run(armed.destination, armed.token)
    # The delivery is back in the line, which has a new drain to queue.
    [replacement] = outcome.drains
    assert replacement.token != armed.token
    assert pacing.waiting(armed.destination).count() == 2
    pace = DestinationPace.objects.get(destination=armed.destination)
    assert pace.drain_token == replacement.token


# -- 6. a resolution is only carried by a reply of the same alert ----------------------------


def test_another_alerts_resolution_does_not_cancel_an_update(settings, slack_rules):
    """Two alerts whose occurrences have no key ("") and no first message recorded: the
    first one's resolution is posted; the second's must be posted too, not taken for a
    thread reply that carries it."""
    with FakeSlack(api_mode=True) as slack:
        settings.SLACK_INTERNAL_ENDPOINT = f"{slack.url}/slack-proxy/"
        slack_rules(GATEWAY_MODE="bot", CHANNEL_RATE=None)
        rule = RuleFactory(
            name="db",
            slack_channel="#db",
            message_template="{{ alertname }} fires",
            resolved_message_template="{{ alertname }} resolved",
            resolve_action="update",
        )
        first, second = (AlertGroup.objects.create(fingerprint=f, name=f) for f in "ab")
        assert notify(first.pk, rule.pk, "resolved", "") == "sent"
        assert notify(second.pk, rule.pk, "resolved", "") == "sent"
        assert [m.text for m in slack.messages("#db")] == ["a resolved", "b resolved"]
    assert set(SlackDelivery.objects.values_list("state", "action")) == {("sent", "post")}


# -- 7. prune keeps what an open alert needs -------------------------------------------


def test_prune_keeps_the_first_message_of_an_alert_that_is_still_firing(
    alert, db_rule, outbox, eager, committed
):
    resolved = AlertInstanceFactory(alert_group__labels={"team": "db"}).alert_group
    with committed():
        fire(alert)
        fire(resolved)
        fire(resolved, status="resolved")
    AlertGroup.objects.filter(pk=resolved.pk).update(current_status="resolved")
    SlackDelivery.objects.update(created_at=timezone.now() - datetime.timedelta(days=40))
    assert call("slack_rules_prune", "--days", "30").strip() == "2 delivery record(s) deleted."
    [kept] = SlackDelivery.objects.all()
    assert (kept.alert_id, kept.alert_status) == (str(alert.pk), "firing")
    # The same occurrence signalled again is recognised: nothing is sent twice.
    with committed():
        fire(alert, alert.instances.get())
    assert len(outbox) == 3


# -- 8. the fallback message is escaped --------------------------------------------------


class ContextlessAdapter(AlertGroupAdapter):
    def get_context(self, *args, **kwargs):
        raise RuntimeError("adapter bug")


def test_the_fallback_message_cannot_mention_the_channel(
    db_rule, outbox, eager, slack_rules, committed
):
    slack_rules(ADAPTER="tests.test_nothing_lost.ContextlessAdapter")
    alert = AlertInstanceFactory(
        alert_group__name="<!channel> boom", alert_group__labels={"team": "db"}
    ).alert_group
    with committed():
        fire(alert)
    [message] = outbox
    assert message.text.startswith("[FIRING] &lt;!channel&gt; boom")
    assert "<!channel>" not in message.text


# -- 9. rate limits use no attempt, pause the channel, and one pace per channel --------------


def test_a_channel_rate_limited_more_often_than_max_attempts_still_sends(
    alert, db_rule, slack_endpoint, slack_rules
):
    slack_rules(MAX_ATTEMPTS=2, CHANNEL_RATE=None)
    with transaction.atomic():
        fire(alert)
    recorded = SlackDelivery.objects.get()
    slack_endpoint.respond_rate_limited(retry_after=0, times=3)
    for _ in range(3):
        with pytest.raises(RetryLater):
            delivery.send_delivery(recorded.pk)
    assert delivery.send_delivery(recorded.pk) == "sent"
    recorded.refresh_from_db()
    assert (recorded.state, recorded.attempts) == ("sent", 1)


def test_slacks_ratelimited_answer_pauses_the_channel(alert, db_rule, settings):
    with FakeSlack(api_mode=True) as slack:
        settings.SLACK_INTERNAL_ENDPOINT = f"{slack.url}/slack-proxy/"
        slack.queue_response(
            body='{"ok": false, "error": "ratelimited"}',
            content_type="application/json",
            headers={"Retry-After": "30"},
        )
        with transaction.atomic():
            fire(alert)
        recorded = SlackDelivery.objects.get()
        with pytest.raises(pacing.WaitForSlot):
            delivery.send_delivery(recorded.pk)
    assert 25 < DestinationPause.remaining("#db") <= 30
    recorded.refresh_from_db()
    assert (recorded.attempts, recorded.failure_reason) == (0, "rate_limited")


def test_a_channel_and_its_id_share_one_pace(settings, slack_rules):
    with FakeSlack(api_mode=True) as slack:
        settings.SLACK_INTERNAL_ENDPOINT = f"{slack.url}/slack-proxy/"
        slack_rules(GATEWAY_MODE="bot")
        by_name = RuleFactory(name="by-name", slack_channel="#db", message_template="a")
        by_id = RuleFactory(
            name="by-id", slack_channel=slack.channel_id("#db"), message_template="b"
        )
        alerts = [AlertInstanceFactory().alert_group for _ in range(4)]
        assert notify(alerts[0].pk, by_name.pk, "firing", "1") == "sent"  # Slack says the id
        assert notify(alerts[1].pk, by_id.pk, "firing", "1") == "sent"
        assert notify(alerts[2].pk, by_name.pk, "firing", "1") == "sent"
        # The burst of three is used up, by the name and the id together.
        with pytest.raises(pacing.WaitForSlot) as waiting:
            notify(alerts[3].pk, by_id.pk, "firing", "1")
    assert waiting.value.destination == slack.channel_id("#db")
    assert len(slack.messages()) == 3


# -- 10. resends and outcomes are tied to their state and claim ------------------------------


def test_two_concurrent_resends_send_once(db_rule):
    failed = DeliveryFactory(rule=db_rule, state=DeliveryState.FAILED)
    assert claim.reset_for_resend(SlackDelivery.objects.all()) == [failed.pk]
    assert claim.reset_for_resend(SlackDelivery.objects.filter(pk=failed.pk)) == []


def test_a_stale_attempts_outcome_does_not_overwrite_a_newer_claim(db_rule, caplog):
    recorded = DeliveryFactory(rule=db_rule)
    stale = SlackDelivery.objects.get(pk=recorded.pk)
    assert claim.claim(stale)
    # Its lease runs out; another attempt takes the delivery over and sends it.
    SlackDelivery.objects.filter(pk=recorded.pk).update(
        claimed_at=timezone.now() - datetime.timedelta(seconds=pacing.lease_seconds() + 1)
    )
    newer = SlackDelivery.objects.get(pk=recorded.pk)
    assert claim.claim(newer)
    assert claim.settle(newer, state=DeliveryState.SENT)
    # The stale attempt's failure comes back: it is not recorded.
    assert not claim.settle(stale, state=DeliveryState.FAILED, last_error="timeout")
    assert SlackDelivery.objects.get(pk=recorded.pk).state == "sent"
    assert "another attempt claimed it" in caplog.text


# -- 11. what the broker never took is queued again, within a recovery period ----------------


def test_a_delivery_the_broker_never_took_is_queued_again_once_quiet(
    alert, db_rule, outbox, eager, slack_rules
):
    slack_rules(RECOVERY_AFTER=60)
    DeliveryFactory(rule=db_rule, channel="#db", text="never queued")
    assert tasks.requeue_stranded(quiet_for=None).deliveries == []  # just recorded
    SlackDelivery.objects.update(updated_at=timezone.now() - datetime.timedelta(seconds=61))
    [_stranded] = tasks.requeue_stranded(quiet_for=None).deliveries
    assert [m.text for m in outbox] == ["never queued"]
    assert SlackDelivery.objects.get().state == "sent"
    assert tasks.requeue_stranded(quiet_for=None).deliveries == []


# -- 13. the line goes first --------------------------------------------------------------


def test_a_new_delivery_never_jumps_the_line(storm_rule, outbox, slack_rules):
    slack_rules(DIGEST_AFTER=None)
    armed = storm(storm_rule, 5)  # three sent, two wait
    a_second_later()  # a slot is free, but two wait for it
    newcomer = AlertInstanceFactory(alert_group__instance="late")
    with pytest.raises(pacing.WaitForSlot):
        notify(newcomer.alert_group.pk, storm_rule.pk, "firing", str(newcomer.pk))
    outcome = drain.run(armed.destination, armed.token)
    assert outcome.state == "sent"
    assert outbox[-1].text == "web-3"  # the oldest goes first
