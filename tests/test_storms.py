"""A storm: deliveries wait in their channel's line, the drain sends them a slot at a time,
and a long line becomes one digest. Nothing is lost, nothing is sent twice.

Through the package's services (what the tasks run) and the locmem backend; the real
worker's storms are in test_e2e.py. "A second later" moves the channel's bucket back by
one interval instead of sleeping.
"""

from __future__ import annotations

import pytest
from django.db.models import F

from django_slack_rules.models import DeliveryState, DestinationPace, SlackDelivery
from django_slack_rules.services import drain
from django_slack_rules.services.pacing import WaitForSlot
from tests.factories import AlertInstanceFactory, RuleFactory
from tests.utils import notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def storm_rule():
    return RuleFactory(
        name="storm",
        match_criteria={},
        slack_channel="#storm",
        message_template=":fire: *{{ alertname }}* on {{ instance }} <!here>\nsecond line",
        resolved_message_template="{{ alertname }} on {{ instance }} resolved",
    )


def new_alert(n, name="HighCPU", severity="warning"):
    instance = AlertInstanceFactory(
        alert_group__name=name,
        alert_group__severity=severity,
        alert_group__instance=f"web-{n}",
    )
    return instance.alert_group, str(instance.pk)


def fire(rule, n, **alert):
    """The task of one firing alert: its state, or the WaitForSlot it raised."""
    group, occurrence = new_alert(n, **alert)
    try:
        return notify(group.pk, rule.pk, "firing", occurrence)
    except WaitForSlot as waiting:
        return waiting


def a_second_later(channel="#storm", seconds=1.0):
    """The channel's bucket as it is ``seconds`` later (its next slot has come)."""
    DestinationPace.objects.filter(destination=channel).update(tat=F("tat") - seconds)


def count(state):
    return SlackDelivery.objects.exclude(alert_status="digest").filter(state=state).count()


def test_a_burst_is_sent_then_the_line_waits_for_one_drain(storm_rule, outbox):
    results = [fire(storm_rule, n) for n in range(6)]
    assert results[:3] == ["sent"] * 3
    waits = results[3:]
    assert all(isinstance(w, WaitForSlot) for w in waits)
    # The first to wait armed the channel's drain, due at the next slot; the others found it.
    assert waits[0].drain is not None
    assert 0 < waits[0].drain.countdown <= 1
    assert [w.drain for w in waits[1:]] == [None, None]
    assert len(outbox) == 3
    waiting = SlackDelivery.objects.filter(waiting_since__isnull=False)
    assert waiting.count() == 3
    # Waiting used no attempt, and nothing was claimed.
    assert set(waiting.values_list("state", "attempts")) == {("pending", 0)}


def test_the_drain_sends_the_line_one_slot_at_a_time_oldest_first(storm_rule, outbox):
    results = [fire(storm_rule, n) for n in range(5)]
    armed = results[3].drain
    # Run before its slot (a countdown cut short): it sends nothing and hands over.
    early = drain.run("#storm", armed.token)
    assert early.state == "no-slot"
    assert len(outbox) == 3
    a_second_later()
    first = drain.run("#storm", early.drains[0].token)
    assert first.state == "sent"
    assert outbox[-1].text.startswith(":fire: *HighCPU* on web-3")
    assert first.drains  # one more waits: the next drain, at the next slot
    # The old token was handed over: a copy of that message does nothing.
    assert drain.run("#storm", armed.token).state == "superseded"
    a_second_later()
    last = drain.run("#storm", first.drains[0].token)
    assert (last.state, last.drains) == ("sent", [])
    assert outbox[-1].text.startswith(":fire: *HighCPU* on web-4")
    assert count("sent") == 5
    assert DestinationPace.objects.get(destination="#storm").drain_at is None


def test_a_long_line_becomes_one_digest_and_every_alert_is_accounted_for(
    storm_rule, outbox, slack_rules
):
    slack_rules(DIGEST_AFTER=5, SITE_URL="https://alerts.example.com")
    results = [fire(storm_rule, n, severity="critical" if n % 3 else "warning") for n in range(30)]
    armed = next(r.drain for r in results if isinstance(r, WaitForSlot) and r.drain)
    a_second_later()
    outcome = drain.run("#storm", armed.token)
    assert outcome.state == "digest"
    assert outcome.drains == []  # the line is empty: the drain let go
    assert len(outbox) == 4  # the burst of three, and the digest
    digest = SlackDelivery.objects.get(alert_status="digest")
    assert (digest.state, digest.attempts, digest.channel) == ("sent", 1, "#storm")
    assert (digest.rule, digest.rule_name, digest.alertname) == (storm_rule, "storm", "HighCPU")
    folded = SlackDelivery.objects.filter(state=DeliveryState.DIGESTED)
    assert folded.count() == 27
    assert set(folded.values_list("digest", "attempts", "waiting_since")) == {(digest.pk, 0, None)}
    # Every alert is sent or in the digest, once.
    assert count("sent") + count("digested") == 30
    assert SlackDelivery.objects.filter(state="pending").count() == 0

    text = outbox[-1].text
    assert text == digest.text
    lines = text.splitlines()
    assert lines[0] == ":package: *27 alerts for #storm, in one message*"
    assert "27 firing" in lines[2]
    assert "HighCPU (critical) \N{MULTIPLICATION SIGN}18" in lines[3]
    assert "HighCPU (warning) \N{MULTIPLICATION SIGN}9" in lines[3]
    quoted = [line for line in lines if line.startswith("• ")]
    assert quoted[0] == "• :fire: *HighCPU* on web-3 @here"  # the first line; no ping
    assert len(quoted) == 10
    assert "+17 more" in lines
    assert lines[-1] == (
        f"<https://alerts.example.com/slack/deliveries/?digest={digest.pk}"
        "|Every alert of this digest in the delivery log>"
    )
    assert "<!here>" not in text


def test_a_short_line_goes_one_by_one_and_a_rule_can_opt_out_of_digests(
    storm_rule, outbox, slack_rules
):
    slack_rules(DIGEST_AFTER=3)
    pager = RuleFactory(
        name="pager",
        slack_channel="#storm",
        digest_opt_out=True,
        message_template="PAGE {{ instance }}",
    )
    for n in range(3):
        fire(storm_rule, n)  # the burst
    armed = fire(pager, 100).drain  # the oldest waiting: never folded
    for n in range(3, 7):
        fire(storm_rule, n)
    a_second_later()
    first = drain.run("#storm", armed.token)
    assert first.state == "sent"
    assert outbox[-1].text == "PAGE web-100"  # five wait: the oldest goes alone
    a_second_later()
    second = drain.run("#storm", first.drains[0].token)
    assert second.state == "digest"  # four wait, more than three: a digest of them
    assert SlackDelivery.objects.get(alert_status="digest").folded.count() == 4


def test_the_pagers_alerts_wait_in_line_but_are_never_folded(storm_rule, outbox, slack_rules):
    slack_rules(DIGEST_AFTER=2)
    pager = RuleFactory(
        name="pager",
        slack_channel="#storm",
        digest_opt_out=True,
        message_template="PAGE {{ instance }}",
    )
    for n in range(3):
        fire(storm_rule, n)
    armed = fire(storm_rule, 3).drain
    for n in range(4, 7):
        fire(pager, n)
    a_second_later()
    # Four wait: the oldest can be folded, but the pager's three cannot: a digest of one
    # would be silly, so it goes alone; then the pager's, one per slot.
    outcome = drain.run("#storm", armed.token)
    assert outbox[-1].text.startswith(":fire:")
    for n in range(4, 7):
        a_second_later()
        outcome = drain.run("#storm", outcome.drains[0].token)
        assert outbox[-1].text == f"PAGE web-{n}"
    assert outcome.drains == []
    assert not SlackDelivery.objects.filter(alert_status="digest").exists()


def test_nothing_is_stranded_when_a_delivery_waits_while_the_drain_lets_go(storm_rule, outbox):
    for n in range(3):
        fire(storm_rule, n)
    armed = fire(storm_rule, 3).drain
    a_second_later()
    # The drain's slot is taken by the one waiting; meanwhile another arrives and finds a
    # drain due (it does not arm one).
    real_line = drain._line

    def line_then_a_newcomer(destination):
        found = real_line(destination)
        late = fire(storm_rule, 4)
        assert isinstance(late, WaitForSlot)
        assert late.drain is None
        return found

    drain._line = line_then_a_newcomer
    try:
        outcome = drain.run("#storm", armed.token)
    finally:
        drain._line = real_line
    # It saw one waiting and sent it; letting go, it looked again and armed for the newcomer.
    assert outcome.state == "sent"
    assert outcome.drains
    a_second_later()
    assert drain.run("#storm", outcome.drains[0].token).state == "sent"
    assert count("sent") == 5


def test_without_pacing_nothing_waits(storm_rule, outbox, slack_rules):
    slack_rules(CHANNEL_RATE=None)
    assert [fire(storm_rule, n) for n in range(12)] == ["sent"] * 12
    assert not DestinationPace.objects.exists()


def test_an_eager_task_is_not_paced(storm_rule, outbox, eager):
    from django_slack_rules.tasks import process_slack_for_alert_group

    for n in range(6):
        group, occurrence = new_alert(n)
        result = process_slack_for_alert_group.apply(
            args=(group.pk, storm_rule.pk), kwargs={"status": "firing", "occurrence": occurrence}
        )
        assert result.get() == "sent"
    assert len(outbox) == 6
