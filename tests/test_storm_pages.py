"""Seeing a storm: the delivery log's header and digests, slack_rules_status, and what the
operations commands and the test send do with a destination's line."""

from __future__ import annotations

import datetime
import re
import time

import pytest
from django.db.models import F
from django.utils import timezone

from django_slack_rules import tasks
from django_slack_rules.models import (
    DestinationPace,
    DestinationPause,
    SlackDelivery,
    SlackIntegrationRule,
)
from django_slack_rules.services import drain, pacing
from django_slack_rules.services.pacing import WaitForSlot
from tests.alerts.models import AlertGroup
from tests.factories import AlertInstanceFactory, RuleFactory
from tests.test_views import rule_data, sample_post
from tests.utils import call, notify, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def storm(outbox, slack_rules):
    """Twelve alerts to #storm at once: three sent, nine waiting, their drain armed."""
    slack_rules(DIGEST_AFTER=5)
    rule = RuleFactory(name="storm", slack_channel="#storm", message_template="{{ instance }}")
    armed = None
    for n in range(12):
        instance = AlertInstanceFactory(alert_group__instance=f"web-{n}")
        try:
            notify(instance.alert_group.pk, rule.pk, "firing", str(instance.pk))
        except WaitForSlot as waiting:
            armed = armed or waiting.drain
    return rule, armed


def digest_now(armed):
    DestinationPace.objects.filter(destination="#storm").update(tat=F("tat") - 1)
    assert drain.run("#storm", armed.token).state == "digest"
    return SlackDelivery.objects.get(alert_status="digest")


def test_the_delivery_log_header_shows_each_busy_channel(admin_client, storm):
    DestinationPause.pause("#web", 60)
    response = admin_client.get(url("delivery-list"))
    rows = {row.destination: row for row in response.context["busy_destinations"]}
    assert set(rows) == {"#storm", "#web"}
    assert rows["#storm"].backlog == 9
    assert rows["#storm"].next_slot is not None  # the burst is used up
    assert rows["#web"].paused_until is not None
    assert rows["#web"].last_429 is not None
    content = response.content.decode()
    assert ">Busy channels</span>" in content
    assert "Pace per channel: 1 per second, bursts of 3." in content
    assert "When more than 5 messages wait, the next slot sends one digest of them." in content
    assert '<td class="text-end">9</td>' in content
    assert content.count("waiting for a slot since") == 9
    # A calm log has no header.
    SlackDelivery.objects.all().delete()
    DestinationPace.objects.all().delete()
    DestinationPause.objects.all().delete()
    assert "Busy channels" not in admin_client.get(url("delivery-list")).content.decode()


def test_a_digest_in_the_log_links_to_what_it_folded_and_back(admin_client, storm):
    _rule, armed = storm
    digest = digest_now(armed)
    response = admin_client.get(url("delivery-list"))
    content = response.content.decode()
    # Folded under the digest: its alerts are listed in it, not as rows of their own.
    assert "<summary>9 alerts folded</summary>" in content
    assert content.count('<li class="dsr-folded-alert">') == 9
    assert f'<a href="?digest={digest.pk}">Show all 9 as rows, with their states</a>' in content
    assert "in digest #" not in content
    shown = [d.alert_status for d in response.context["object_list"]]
    assert shown == ["digest", "firing", "firing", "firing"]
    response = admin_client.get(url("delivery-list"), {"digest": digest.pk})
    shown = list(response.context["object_list"])
    assert len(shown) == 10
    assert digest in shown
    assert {d.state for d in shown if d != digest} == {"digested"}
    assert f"Showing digest #{digest.pk} and every alert it folded." in (response.content.decode())


def test_slack_rules_status_prints_each_busy_destination(storm):
    _rule, armed = storm
    out = call("slack_rules_status")
    lines = out.splitlines()
    assert lines[0] == (
        "Pacing: 1 message(s)/s per destination, bursts of 3; a digest when more than 5 wait."
    )
    assert lines[1].split() == [
        "destination", "waiting", "next", "slot", "paused", "until", "last", "429", "digests", "(1", "h)"
    ]  # fmt: skip
    storm_line = lines[2].split()
    assert storm_line[:2] == ["#storm", "9"]
    assert "(in" in lines[2]  # the next slot, ahead
    assert lines[-1] == "9 delivery(ies) waiting for a slot."
    digest_now(armed)
    DestinationPace.objects.update(tat=0)  # a while later
    after = call("slack_rules_status").splitlines()
    assert after[2].split()[:3] == ["#storm", "0", "now"]
    assert after[2].split()[-1] == "1"  # one digest in the last hour


def test_slack_rules_status_when_nothing_waits_and_without_pacing(slack_rules):
    assert call("slack_rules_status").splitlines()[-1] == "No destination is busy: nothing waits."
    slack_rules(CHANNEL_RATE=None)
    assert call("slack_rules_status").startswith(
        'Pacing is off (SLACK_RULES["CHANNEL_RATE"] is None).'
    )


def test_requeue_leaves_the_line_to_its_drain_until_the_drain_is_overdue(storm, eager):
    old = timezone.now() - datetime.timedelta(hours=1)
    SlackDelivery.objects.update(updated_at=old, created_at=old)
    out = call("slack_rules_requeue", "--dry-run")
    assert out.splitlines() == ["0 delivery(ies) and 0 line(s) would be queued."]
    # The drain was lost (its message with it): the line is given a drain again.
    overdue = time.time() - pacing.lease_seconds() - 10
    DestinationPace.objects.update(drain_at=overdue)
    assert call("slack_rules_requeue", "--dry-run").splitlines() == [
        "the line of #storm would be queued a drain",
        "0 delivery(ies) and 1 line(s) would be queued.",
    ]


def test_a_requeued_waiting_delivery_rearms_a_lost_drain(storm, monkeypatch):
    _rule, armed = storm
    DestinationPace.objects.update(drain_at=time.time() - pacing.lease_seconds() - 10)
    queued = []
    monkeypatch.setattr(tasks, "enqueue", lambda task, *args, **kw: queued.append((task, args)))
    waiting = SlackDelivery.objects.filter(waiting_since__isnull=False).first()
    assert tasks.send_slack_delivery.run(waiting.pk) == "waiting"
    [(task, (destination, token))] = queued
    assert (task, destination) == (tasks.drain_destination, "#storm")
    assert token != armed.token


def test_a_test_send_to_a_channel_with_a_line_sends_nothing_and_says_when(admin_client, storm):
    # The next slot a minute away: however slow the machine, it is not free by the click.
    DestinationPace.objects.filter(destination="#storm").update(tat=F("tat") + 60)
    response = admin_client.post(
        url("rule-preview", storm[0].pk), sample_post(send=True), follow=True
    )
    content = response.content.decode()
    assert "#storm has no free slot now: 9 messages wait for it" in content
    seconds = re.search(r"Try again in (\d+) s\.", content)
    assert seconds is not None, content
    assert 55 <= int(seconds.group(1)) <= 61
    assert not SlackDelivery.objects.filter(alert_status="test").exists()


def test_prune_deletes_old_digested_deliveries_with_their_digest(storm):
    digest_now(storm[1])
    old = timezone.now() - datetime.timedelta(days=40)
    SlackDelivery.objects.update(created_at=old)
    AlertGroup.objects.update(current_status="resolved")  # the storm is over
    assert call("slack_rules_prune", "--days", "30").strip() == "13 delivery record(s) deleted."
    assert not SlackDelivery.objects.exists()


def test_a_rule_can_opt_out_of_digests_on_its_page(admin_client):
    response = admin_client.post(url("rule-create"), {**rule_data(), "digest_opt_out": "on"})
    assert response.status_code == 302
    rule = SlackIntegrationRule.objects.get()
    assert rule.digest_opt_out is True
    form = admin_client.get(url("rule-update", rule.pk)).content.decode()
    assert 'name="digest_opt_out"' in form
    assert "Tick this to send this rule's alerts one by one instead" in form


def test_a_storm_in_german(admin_client, storm, settings):
    from django.utils import translation

    _rule, armed = storm
    settings.LANGUAGE_CODE = "de"  # the worker writes the digest in the site's language
    digest = digest_now(armed)
    assert digest.text.splitlines()[0] == ":package: *9 Alerts für #storm, in einer Nachricht*"
    assert "Sammelnachricht #" in digest.text.splitlines()[-1]
    instance = AlertInstanceFactory(alert_group__instance="web-99")
    with pytest.raises(WaitForSlot):
        notify(instance.alert_group.pk, _rule.pk, "firing", str(instance.pk))
    with translation.override("de"):
        content = admin_client.get(url("delivery-list")).content.decode()
    assert ">Ausgelastete Kanäle</span>" in content
    assert "Takt je Kanal: 1 pro Sekunde, Schübe von 3." in content
    assert "Wenn mehr als 5 Nachrichten warten, sendet der nächste Platz" in content
    assert "9 Alerts zusammengefasst" in content
    assert "wartet seit" in content
    with translation.override("de"):
        content = admin_client.get(url("delivery-list"), {"digest": digest.pk}).content.decode()
    assert f"in Sammelnachricht #{digest.pk}" in content
    assert ">zusammengefasst</span>" in content


def test_slack_rules_status_without_time_zones(storm, settings):
    settings.USE_TZ = False
    DestinationPause.pause("#web", 60)
    lines = call("slack_rules_status").splitlines()
    assert [line.split()[0] for line in lines[2:4]] == ["#storm", "#web"]
    assert "(in" in lines[3]  # paused until, ahead
