"""A first attempt in a worker: the rule from the index, the delivery recorded claimed in one
statement (PostgreSQL), three queries in all; and every way out of that path.

Outside a transaction, as a Celery worker runs a task (``transaction=True``). On SQLite and
MariaDB the same calls take the steps of ``services.recording``: the tests check that they
do, and send the same.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from django_slack_rules.adapters import get_adapter
from django_slack_rules.models import (
    DeliveryState,
    DestinationPace,
    DestinationPause,
    SlackDelivery,
    claiming,
)
from django_slack_rules.services import pacing
from django_slack_rules.services.delivery import RetryLater
from django_slack_rules.services.recording import notify
from django_slack_rules.services.slack_matcher import SlackRuleMatcherService
from tests.factories import AlertInstanceFactory

pytestmark = pytest.mark.django_db(transaction=True)

POSTGRESQL = connection.vendor == "postgresql"


def web_alert(summary="p99 above 2s"):
    """A firing alert of the web team, which the ``rule`` fixture (#web) gets."""
    return AlertInstanceFactory(
        alert_group__name="HighLatency",
        alert_group__labels={"alertname": "HighLatency", "team": "web"},
        annotations={"summary": summary},
    ).alert_group


@pytest.fixture
def alert():
    return web_alert()


def matched(alert):
    """What the handler passes to the task: the rule's id, the occurrence, the version."""
    rules, version = SlackRuleMatcherService().match(get_adapter().get_labels(alert))
    [rule] = rules
    return rule.pk, get_adapter().get_occurrence_key(alert), version


def send(alert, *, paced=True, args=None):
    """Run the task's work for ``alert`` as a worker does, with the handler's arguments."""
    rule_id, occurrence, version = args or matched(alert)
    return notify(alert.pk, rule_id, "firing", occurrence, paced=paced, version=version)


def statements(queries):
    return [" ".join(q["sql"].split())[:60] for q in queries]


@pytest.mark.parametrize("rate", [1.0, None], ids=["paced", "unpaced"])
def test_a_first_attempt_takes_three_queries(alert, rule, slack_endpoint, slack_rules, rate):
    slack_rules(CHANNEL_RATE=rate)
    send(alert)  # the destination's first message creates its pace row
    slack_endpoint.reset()
    second = web_alert("p99 above 3s")
    args = matched(second)
    with CaptureQueriesContext(connection) as queries:
        assert send(second, args=args) == "sent"
    [request] = slack_endpoint.wait_for_requests(1)
    assert request.json() == {"channel": "#web", "text": "HighLatency: p99 above 3s"}
    delivery = SlackDelivery.objects.get(alert_id=str(second.pk))
    assert (delivery.state, delivery.attempts, delivery.rule_id) == ("sent", 1, rule.pk)
    assert delivery.claimed_at is not None
    assert delivery.sent_at is not None
    done = statements(queries)
    if POSTGRESQL:
        # The alert with its occurrence; the slot (or the pause check) and the claimed
        # INSERT; the outcome. No version read, no BEGIN/COMMIT.
        assert len(done) == 3, done
        assert done[1].startswith("WITH gate AS (")
        assert done[2].startswith('UPDATE "django_slack_rules_slackdelivery"')
    else:  # the steps: the rule set's version first
        assert "rulesetversion" in queries[0]["sql"], done
    if rate is not None:
        tat, _ = DestinationPace.read("#web")
        assert tat > time.time() - 1  # both slots were taken


def test_the_claim_leaves_synchronous_commit_on(alert, rule, slack_endpoint):
    assert send(alert) == "sent"
    with connection.cursor() as cursor:
        if POSTGRESQL:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"


def test_inside_a_transaction_it_takes_the_steps(alert, rule, slack_endpoint):
    """A host that sends in its own transaction (an eager task): its commit stays
    synchronous, as the one-statement claim is never used there."""
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert send(alert) == "sent"
    assert not any("set_config" in q["sql"] for q in queries)
    assert any("rulesetversion" in q["sql"] for q in queries)
    assert SlackDelivery.objects.get().state == DeliveryState.SENT


def test_a_redelivered_first_attempt_posts_once_and_takes_no_slot(alert, rule, slack_endpoint):
    assert send(alert) == "sent"
    assert send(web_alert()) == "sent"  # the destination's pace row exists now
    paced = DestinationPace.read("#web")
    assert send(alert) == "sent"  # the broker redelivers the first message
    assert DestinationPace.read("#web") == paced
    assert len(slack_endpoint.requests) == 2
    delivery = SlackDelivery.objects.get(alert_id=str(alert.pk))
    assert (delivery.state, delivery.attempts) == (DeliveryState.SENT, 1)


def test_a_held_destination_records_the_delivery_waiting(alert, rule, slack_endpoint):
    """A 429 holds the destination's slot: a first attempt recorded in one statement sees
    the pause there, waits in line and uses no attempt."""
    pace = pacing.current()
    DestinationPause.pause("#web", 30)
    pacing.hold("#web", 30, pace)
    with pytest.raises(pacing.WaitForSlot) as waiting:
        send(alert)
    assert 29 <= waiting.value.next_at - time.time() <= 31
    delivery = SlackDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 0)
    assert delivery.waiting_since is not None
    assert slack_endpoint.requests == []


def test_a_rate_limit_holds_the_slot_even_for_an_unpaced_send(alert, rule, slack_endpoint):
    """An eager task (not paced) that Slack answers 429 holds the destination's slot too,
    so the paced deliveries that follow see the pause."""
    slack_endpoint.respond_rate_limited(retry_after=30)
    with pytest.raises(RetryLater):
        send(alert, paced=False)
    tat, _ = DestinationPace.read("#web")
    assert tat - time.time() >= 29
    later = web_alert()
    with pytest.raises(pacing.WaitForSlot):
        send(later)
    assert len(slack_endpoint.requests) == 1


def test_unpaced_a_pause_elsewhere_still_sends(alert, rule, slack_endpoint, slack_rules):
    slack_rules(CHANNEL_RATE=None)
    DestinationPause.pause("#other", 30)
    assert send(alert) == "sent"
    assert len(slack_endpoint.requests) == 1


def test_unpaced_a_paused_destination_retries_without_an_attempt(
    alert, rule, slack_endpoint, slack_rules
):
    slack_rules(CHANNEL_RATE=None)
    DestinationPause.pause("#web", 30)
    with pytest.raises(RetryLater):
        send(alert)
    delivery = SlackDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 0)
    assert slack_endpoint.requests == []


def test_the_message_is_the_rule_as_it_matched(alert, rule, slack_endpoint):
    """The handler's version: a worker whose index is at it renders the rule as it was when
    the alert matched, even if it was edited since; another version reads the rule set."""
    rule_id, occurrence, version = matched(alert)
    rule.message_template = "edited: {{ alertname }}"
    rule.save()
    if POSTGRESQL:
        assert notify(alert.pk, rule_id, "firing", occurrence, version=version) == "sent"
        assert slack_endpoint.wait_for_requests(1)[0].json()["text"] == "HighLatency: p99 above 2s"
    SlackDelivery.objects.all().delete()
    slack_endpoint.reset()
    assert notify(alert.pk, rule_id, "firing", occurrence, version="another") == "sent"
    assert slack_endpoint.wait_for_requests(1)[0].json()["text"] == "edited: HighLatency"


def test_a_rule_deleted_since_the_match_sends_nothing(alert, rule, slack_endpoint):
    rule_id, occurrence, version = matched(alert)
    rule.delete()
    assert notify(alert.pk, rule_id, "firing", occurrence, version=version) == "no-rule"
    assert not SlackDelivery.objects.exists()
    assert slack_endpoint.requests == []


def test_the_one_statement_gate_paces_as_taking_a_slot_does():
    """The gate's UPDATE is the bucket of ``DestinationPace.take``: the same burst, then one
    slot per interval, and none while a drain is due."""
    now = 1_800_000_000.0
    pace = pacing.Pace(rate=1.0, burst=3)
    for destination in ("#one-statement", "#steps"):
        DestinationPace.start(destination, now - 60)

    def one_statement(at, key):
        record = SlackDelivery(
            idempotency_key=key,
            alert_id="1",
            alert_status="firing",
            channel="#one-statement",
            state=DeliveryState.SENDING,  # claimed by the caller
            attempts=1,
        )
        gate = claiming.Gate("#one-statement", pace.interval, pace.tolerance)
        return claiming.insert_claimed(record, using="default", slot=gate, now=at).inserted

    times = [now, now, now, now, now + 0.5, now + 1, now + 1.2, now + 2]
    steps = [pacing.take("#steps", pace, now=at).granted for at in times]
    assert steps == [True, True, True, False, False, True, False, True]
    if not POSTGRESQL:
        assert not claiming.can_insert_claimed("default")
        return
    assert [one_statement(at, f"k{i}") for i, at in enumerate(times)] == steps
    # The claimed rows are the granted ones, each sending with attempt 1.
    claimed = SlackDelivery.objects.filter(channel="#one-statement")
    assert claimed.count() == steps.count(True)
    assert set(claimed.values_list("state", "attempts")) == {(DeliveryState.SENDING, 1)}
    # While a drain is due, the line goes first: no slot.
    DestinationPace.arm("#one-statement", due=now + 60, token=7, stale_before=now - 60)
    assert not one_statement(now + 60, "after-drain")


def test_an_insert_it_cannot_use_falls_back_to_the_steps(
    alert, rule, slack_endpoint, monkeypatch, caplog
):
    """A Django that writes its INSERT in another shape: recorded in steps, and said."""
    monkeypatch.setattr(claiming, "_insert_sql", lambda record, using: None)
    monkeypatch.setattr(claiming, "_warned", [])
    assert send(alert) == "sent"
    assert len(slack_endpoint.wait_for_requests(1)) == 1
    delivery = SlackDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.SENT, 1)
    if POSTGRESQL:
        assert "one-statement claim cannot use" in caplog.text


def outcome_fields(**changes):
    return {
        "state": DeliveryState.SENT,
        "http_status": 200,
        "response": "ok",
        "message_ts": "1700000000.000100",
        **changes,
    }


def two_deliveries():
    return [
        SlackDelivery.objects.create(
            idempotency_key=f"key-{i}", alert_id=str(i), alert_status="firing", channel="#web"
        )
        for i in (1, 2)
    ]


def test_an_outcome_reuses_the_update_django_compiled(monkeypatch):
    """An outcome's UPDATE is the one Django compiles for its fields, compiled once: the next
    outcome with the same fields runs it with its own values, in one query."""
    monkeypatch.setattr(claiming, "_updates", {})
    first, second = two_deliveries()
    query = claiming.UpdateQuery(SlackDelivery)
    query.add_q(claiming.Q(pk=second.pk))
    query.add_update_values(outcome_fields())
    django_sql, _ = query.get_compiler("default").as_sql()

    claiming.write_fields(first.pk, outcome_fields(response="first"), using="default")
    with CaptureQueriesContext(connection) as queries:
        claiming.write_fields(second.pk, outcome_fields(http_status=201), using="default")
    assert len(queries.captured_queries) == 1
    assert claiming._updates == {("default", tuple(outcome_fields())): django_sql}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.response, first.http_status) == (DeliveryState.SENT, "first", 200)
    assert (second.state, second.response, second.http_status) == (DeliveryState.SENT, "ok", 201)


def test_an_expression_or_values_prepared_otherwise_take_the_orm(monkeypatch):
    """An expression is written by the ORM; so are fields whose values Django prepared
    differently from ``write_fields`` when it compiled them (nothing cached for them)."""
    monkeypatch.setattr(claiming, "_updates", {})
    first, second = two_deliveries()
    claiming.write_fields(first.pk, {"attempts": F("attempts") + 2}, using="default")
    first.refresh_from_db()
    assert first.attempts == 2
    assert claiming._updates == {}

    monkeypatch.setattr(claiming, "_update_params", lambda pk, fields, using: ["not", "these"])
    for delivery, response in ((first, "one"), (second, "two")):
        claiming.write_fields(delivery.pk, outcome_fields(response=response), using="default")
        delivery.refresh_from_db()
        assert (delivery.state, delivery.response) == (DeliveryState.SENT, response)
    assert claiming._updates == {("default", tuple(outcome_fields())): None}
