"""Resolutions in a storm: a firing folded into a digest resolves in the digest's thread
(bot mode), or in the next digest; never twice, never lost.

Against the fake Slack's Web API, which keeps threads as Slack does.
"""

from __future__ import annotations

import pytest
from django.db.models import F

from django_slack_rules.models import DestinationPace, SlackDelivery
from django_slack_rules.services import drain
from django_slack_rules.services.delivery import RetryLater
from django_slack_rules.services.pacing import WaitForSlot
from tests.factories import AlertInstanceFactory, RuleFactory
from tests.fake_slack import FakeSlack
from tests.utils import notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def slack(settings, slack_rules):
    """The fake Slack's Web API; bot mode; a digest once more than two wait."""
    with FakeSlack(api_mode=True) as api:
        settings.SLACK_INTERNAL_ENDPOINT = f"{api.url}/slack-proxy/"
        slack_rules(GATEWAY_MODE="bot", DIGEST_AFTER=2)
        yield api


def make_rule(resolve_action):
    return RuleFactory(
        name="storm",
        slack_channel="#storm",
        message_template=":red_circle: {{ instance }} is firing",
        resolved_message_template=":large_green_circle: {{ instance }} is resolved",
        resolve_action=resolve_action,
    )


def a_second_later():
    """#storm's bucket a second later (by its name, and by the id Slack answered for it)."""
    DestinationPace.objects.update(tat=F("tat") - 1)


def run(alert, rule, status):
    group, occurrence = alert
    try:
        return notify(group.pk, rule.pk, status, occurrence)
    except WaitForSlot as waiting:
        return waiting


def storm(rule, count):
    """``count`` alerts fire at once: three are sent, the rest wait; then the drain's slot
    (a digest). The alerts, and the digest's delivery."""
    alerts = []
    armed = None
    for n in range(count):
        instance = AlertInstanceFactory(alert_group__instance=f"web-{n}")
        alerts.append((instance.alert_group, str(instance.pk)))
        result = run(alerts[-1], rule, "firing")
        if isinstance(result, WaitForSlot) and result.drain is not None:
            armed = result.drain
    a_second_later()
    assert drain.run(armed.destination, armed.token).state == "digest"
    return alerts, SlackDelivery.objects.get(alert_status="digest")


@pytest.mark.parametrize("action", ["reply", "update", "update_and_reply"])
def test_a_folded_firing_resolves_in_the_digests_thread(slack, action):
    rule = make_rule(action)
    alerts, digest = storm(rule, 7)
    [_, _, _, shown] = slack.messages("#storm")  # the burst, then the digest
    assert shown.text == digest.text
    assert digest.message_ts == shown.ts
    a_second_later()
    assert run(alerts[5], rule, "resolved") == "sent"
    [reply] = slack.replies("#storm", shown.ts)
    assert reply.text == ":large_green_circle: web-5 is resolved"
    resolution = SlackDelivery.objects.get(alert_status="resolved")
    assert (resolution.action, resolution.thread_ts) == ("reply", shown.ts)
    instead = " instead of an update" if action == "update" else ""
    assert resolution.note == (
        f"In the thread of digest #{digest.pk}{instead}: the firing message was folded into it."
    )
    # The digest is never updated, and update_and_reply makes no second call.
    assert shown.edits == []
    assert SlackDelivery.objects.filter(alert_status="resolved").count() == 1


def test_a_resolution_waits_for_its_digest_to_be_sent(slack):
    rule = make_rule("reply")
    alerts, digest = storm(rule, 7)
    SlackDelivery.objects.filter(pk=digest.pk).update(state="pending")  # a 5xx, retrying
    a_second_later()
    with pytest.raises(RetryLater):
        run(alerts[4], rule, "resolved")
    assert slack.replies("#storm", digest.message_ts) == []


def test_a_resolution_posts_when_its_digest_failed(slack):
    rule = make_rule("reply")
    alerts, digest = storm(rule, 7)
    SlackDelivery.objects.filter(pk=digest.pk).update(state="failed")
    a_second_later()
    assert run(alerts[4], rule, "resolved") == "sent"
    resolution = SlackDelivery.objects.get(alert_status="resolved")
    assert resolution.action == "post"
    assert resolution.note == (
        "Posted as a new message instead of a thread reply: the digest "
        f"#{digest.pk} that folded the firing message was not sent (failed)."
    )


def test_in_webhook_mode_a_resolution_rides_the_next_digest(settings, slack_rules, outbox):
    slack_rules(DIGEST_AFTER=2)
    rule = make_rule("post")
    alerts, first = storm(rule, 7)
    # The storm goes on: more firings wait, and a folded one resolves among them.
    armed = None
    for n in range(7, 10):
        instance = AlertInstanceFactory(alert_group__instance=f"web-{n}")
        result = run((instance.alert_group, str(instance.pk)), rule, "firing")
        armed = armed or result.drain
    resolved = run(alerts[3], rule, "resolved")
    assert isinstance(resolved, WaitForSlot)
    a_second_later()
    assert drain.run(armed.destination, armed.token).state == "digest"
    second = SlackDelivery.objects.filter(alert_status="digest").exclude(pk=first.pk).get()
    resolution = SlackDelivery.objects.get(alert_status="resolved")
    assert (resolution.state, resolution.digest) == ("digested", second)
    assert "3 firing · 1 resolved" in second.text.splitlines()[2]
    assert "web-3 is resolved" in second.text
    # Every notification of the storm is accounted for, once.
    states = SlackDelivery.objects.exclude(alert_status="digest").values_list("state", flat=True)
    assert sorted(set(states)) == ["digested", "sent"]
    assert len(states) == 11
