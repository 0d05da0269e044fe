"""A resolution in the firing message's thread, the original updated, and every fallback.

Through the real delivery code and the proxy backend, against the fake Slack in Web API
mode, which keeps the messages it accepted (threads, updates) as Slack does.
"""

from __future__ import annotations

import datetime
import json

import pytest
from django.utils import timezone

from django_slack_rules.models import DeliveryState, DestinationPause, SlackDelivery
from django_slack_rules.services import pacing
from django_slack_rules.services.delivery import RetryLater
from tests.factories import AlertInstanceFactory, RuleFactory
from tests.fake_slack import FakeSlack
from tests.utils import notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def slack(settings, slack_rules):
    """The fake Slack's Web API behind SLACK_INTERNAL_ENDPOINT, the gateway in bot mode.

    Without pacing: each test sends a few messages to #db at once (test_storms.py has the
    conversations of a storm: resolutions in a digest's thread)."""
    with FakeSlack(api_mode=True) as api:
        settings.SLACK_INTERNAL_ENDPOINT = f"{api.url}/slack-proxy/"
        slack_rules(GATEWAY_MODE="bot", CHANNEL_RATE=None)
        yield api


@pytest.fixture
def alert():
    instance = AlertInstanceFactory(
        alert_group__name="DiskFull",
        alert_group__labels={"alertname": "DiskFull", "team": "db"},
        annotations={"summary": "Disk 95% full"},
    )
    return instance.alert_group, str(instance.pk)


def make_rule(**options):
    return RuleFactory(
        name="db",
        match_criteria={"team": "db"},
        slack_channel="#db",
        message_template=":red_circle: {{ alertname }} is firing",
        resolved_message_template=":large_green_circle: {{ alertname }} is resolved",
        **options,
    )


def fire(alert, rule, occurrence):
    return notify(alert.pk, rule.pk, "firing", occurrence)


def resolve(alert, rule, occurrence, *, retrying=False):
    return notify(alert.pk, rule.pk, "resolved", occurrence, retrying=retrying)


def delivery(status, **filters):
    return SlackDelivery.objects.get(alert_status=status, **filters)


def test_the_resolution_replies_in_the_firing_messages_thread(slack, alert):
    group, occurrence = alert
    rule = make_rule(resolve_action="reply")
    assert fire(group, rule, occurrence) == "sent"
    assert resolve(group, rule, occurrence) == "sent"

    [original] = slack.messages("#db")
    assert original.text == ":red_circle: DiskFull is firing"
    [reply] = slack.replies("#db", original.ts)
    assert reply.text == ":large_green_circle: DiskFull is resolved"
    assert not reply.reply_broadcast
    assert original.edits == []

    firing, resolved = delivery("firing"), delivery("resolved")
    assert (firing.message_ts, firing.channel_id) == (original.ts, slack.channel_id("#db"))
    assert (resolved.action, resolved.parent, resolved.thread_ts) == ("reply", firing, original.ts)
    assert resolved.message_ts == reply.ts
    assert resolved.note == ""
    # The reply goes to the channel's id, as Slack answered it.
    assert slack.requests[-1].json()["channel"] == slack.channel_id("#db")


def test_the_reply_can_also_be_sent_to_the_channel(slack, alert):
    group, occurrence = alert
    rule = make_rule(resolve_action="reply", reply_broadcast=True)
    fire(group, rule, occurrence)
    resolve(group, rule, occurrence)
    [original] = slack.messages("#db")
    [reply] = slack.replies("#db", original.ts)
    assert reply.reply_broadcast is True
    assert slack.requests[-1].json()["reply_broadcast"] is True


def test_the_update_replaces_the_firing_message(slack, alert):
    group, occurrence = alert
    rule = make_rule(resolve_action="update")
    fire(group, rule, occurrence)
    assert resolve(group, rule, occurrence) == "sent"

    [original] = slack.messages("#db")
    assert original.text == ":large_green_circle: DiskFull is resolved"
    assert original.edits == [(":red_circle: DiskFull is firing", None)]
    assert slack.replies("#db", original.ts) == []
    update = slack.requests[-1]
    assert update.path == "/slack-proxy/chat.update"
    assert update.json() == {
        "channel": slack.channel_id("#db"),
        "ts": original.ts,
        "text": ":large_green_circle: DiskFull is resolved",
        "blocks": [],
    }
    resolved = delivery("resolved")
    assert (resolved.action, resolved.message_ts) == ("update", original.ts)


def test_update_and_reply_does_both_once(slack, alert):
    group, occurrence = alert
    rule = make_rule(resolve_action="update_and_reply")
    fire(group, rule, occurrence)
    assert resolve(group, rule, occurrence) == "sent"
    # A redelivered task finds both done.
    assert resolve(group, rule, occurrence, retrying=True) == "sent"
    assert resolve(group, rule, occurrence) == "sent"

    [original] = slack.messages("#db")
    assert original.text == ":large_green_circle: DiskFull is resolved"
    [reply] = slack.replies("#db", original.ts)
    assert reply.text == ":large_green_circle: DiskFull is resolved"
    assert len(slack.requests) == 3  # post, reply, update
    firing = delivery("firing")
    actions = sorted(SlackDelivery.objects.filter(parent=firing).values_list("action", flat=True))
    assert actions == ["reply", "update"]
    assert {d.state for d in SlackDelivery.objects.all()} == {DeliveryState.SENT}


def test_webhook_mode_posts_a_new_message_and_says_why(slack, alert, slack_rules):
    slack_rules(GATEWAY_MODE="webhook")
    group, occurrence = alert
    rule = make_rule(resolve_action="update_and_reply")
    fire(group, rule, occurrence)
    assert resolve(group, rule, occurrence) == "sent"
    assert [m.text for m in slack.messages("#db")] == [
        ":red_circle: DiskFull is firing",
        ":large_green_circle: DiskFull is resolved",
    ]
    assert "thread_ts" not in slack.requests[-1].json()
    resolved = delivery("resolved")
    assert resolved.action == "post"
    assert 'GATEWAY_MODE"] is "webhook"' in resolved.note
    assert SlackDelivery.objects.count() == 2  # no update is attempted


def test_the_resolution_waits_for_a_firing_message_not_sent_yet(slack, alert):
    group, occurrence = alert
    rule = make_rule(resolve_action="reply")
    slack.respond_server_error(503)
    with pytest.raises(RetryLater):
        fire(group, rule, occurrence)  # the firing message waits for its retry
    with pytest.raises(RetryLater) as waiting:
        resolve(group, rule, occurrence)
    assert 0 < waiting.value.countdown <= 6
    resolved = delivery("resolved")
    assert (resolved.state, resolved.attempts) == (DeliveryState.PENDING, 0)
    assert len(slack.requests) == 1  # the resolution sent nothing

    assert fire(group, rule, occurrence) == "sent"  # the firing message's retry
    assert resolve(group, rule, occurrence, retrying=True) == "sent"
    [original] = slack.messages("#db")
    assert [r.text for r in slack.replies("#db", original.ts)] == [
        ":large_green_circle: DiskFull is resolved"
    ]


def test_the_wait_is_bounded_then_a_new_message_is_posted(slack, alert, slack_rules):
    slack_rules(THREAD_WAIT=0)
    group, occurrence = alert
    rule = make_rule(resolve_action="reply")
    slack.respond_server_error(503)
    with pytest.raises(RetryLater):
        fire(group, rule, occurrence)
    assert resolve(group, rule, occurrence) == "sent"
    [posted] = slack.messages("#db")
    assert posted.text == ":large_green_circle: DiskFull is resolved"
    resolved = delivery("resolved")
    assert resolved.action == "post"
    assert 'still not sent after SLACK_RULES["THREAD_WAIT"] = 0s' in resolved.note


def test_a_failed_firing_message_gets_a_new_message(slack, alert):
    group, occurrence = alert
    rule = make_rule(resolve_action="update")
    slack.respond_api_error("channel_not_found")
    assert fire(group, rule, occurrence) == "failed"
    assert resolve(group, rule, occurrence) == "sent"
    [posted] = slack.messages("#db")
    assert posted.text == ":large_green_circle: DiskFull is resolved"
    assert "the firing message was not sent (failed)" in delivery("resolved").note


def test_a_resolution_without_a_firing_message_is_posted(slack, alert):
    group, occurrence = alert
    rule = make_rule(resolve_action="reply")
    assert resolve(group, rule, occurrence) == "sent"
    assert [m.text for m in slack.messages("#db")] == [":large_green_circle: DiskFull is resolved"]
    assert "no firing message of this alert was recorded" in delivery("resolved").note


def test_message_not_found_posts_a_new_message_and_records_why(slack, alert):
    group, occurrence = alert
    rule = make_rule(resolve_action="update")
    fire(group, rule, occurrence)
    slack.reset()  # someone deleted the message in Slack
    assert resolve(group, rule, occurrence) == "sent"
    update, post = slack.requests
    assert update.path.endswith("chat.update")
    assert post.json()["text"] == ":large_green_circle: DiskFull is resolved"
    [posted] = slack.messages("#db")
    resolved = delivery("resolved")
    assert (resolved.action, resolved.message_ts) == ("post", posted.ts)
    assert "Slack answered message_not_found" in resolved.note


def test_cant_update_message_with_a_reply_only_skips_the_update(slack, alert):
    group, occurrence = alert
    rule = make_rule(resolve_action="update_and_reply")
    fire(group, rule, occurrence)
    slack.queue_response(
        200, '{"ok": true, "channel": "C1", "ts": "1.2"}', content_type="application/json"
    )
    slack.respond_api_error("cant_update_message")
    assert resolve(group, rule, occurrence) == "sent"
    update = delivery("resolved", action="update")
    assert update.state == DeliveryState.CANCELLED
    assert "cant_update_message" in update.note
    assert "thread reply carries" in update.note
    assert len(slack.requests) == 3  # post, reply, the refused update; nothing more


def test_a_firing_message_older_than_the_edit_window_is_not_updated(slack, alert, slack_rules):
    slack_rules(EDIT_WINDOW=3600)
    group, occurrence = alert
    rule = make_rule(resolve_action="update")
    fire(group, rule, occurrence)
    SlackDelivery.objects.filter(alert_status="firing").update(
        sent_at=timezone.now() - datetime.timedelta(hours=2)
    )
    resolve(group, rule, occurrence)
    assert [m.text for m in slack.messages("#db")] == [
        ":red_circle: DiskFull is firing",
        ":large_green_circle: DiskFull is resolved",
    ]
    assert 'older than SLACK_RULES["EDIT_WINDOW"] = 3600s' in delivery("resolved").note
    assert not any(r.path.endswith("chat.update") for r in slack.requests)


def test_a_new_firing_of_an_open_alert_replies_in_its_thread(slack, alert):
    group, first = alert
    rule = make_rule(refire_in_thread=True)
    second = str(AlertInstanceFactory(alert_group=group).pk)
    fire(group, rule, first)
    fire(group, rule, second)
    [original] = slack.messages("#db")
    [again] = slack.replies("#db", original.ts)
    assert again.text == ":red_circle: DiskFull is firing"
    assert delivery("firing", occurrence=second).action == "reply"
    # Once it resolved, the next firing starts a new message.
    resolve(group, rule, second)
    third = str(AlertInstanceFactory(alert_group=group).pk)
    fire(group, rule, third)
    assert len(slack.messages("#db")) == 3  # the first, the resolution, the new firing
    assert delivery("firing", occurrence=third).action == "post"


def test_a_reply_that_is_rate_limited_pauses_the_channel_and_sends_once(slack, alert):
    group, occurrence = alert
    rule = make_rule(resolve_action="reply")
    fire(group, rule, occurrence)
    slack.respond_rate_limited(retry_after=30)
    with pytest.raises(RetryLater) as limited:
        resolve(group, rule, occurrence)
    assert limited.value.countdown >= 30
    # Slack told the firing message's channel id: #db is paced and paused by it.
    assert pacing.destination_of("#db") == slack.channel_id("#db")
    assert DestinationPause.remaining(slack.channel_id("#db")) > 25
    DestinationPause.objects.all().delete()
    assert resolve(group, rule, occurrence, retrying=True) == "sent"
    [original] = slack.messages("#db")
    assert len(slack.replies("#db", original.ts)) == 1


BLOCKS = """[
  {"type": "header", "text": {"type": "plain_text", "text": "{{ alertname }} is {{ status }}"}},
  {"type": "section", "text": {"type": "mrkdwn", "text": "*Summary:* {{ summary }}"}}
]"""


def test_blocks_go_with_the_text_and_the_update_replaces_them(slack, alert):
    group, occurrence = alert
    group.labels["alertname"] = 'Disk "full" <!channel>'
    group.save()
    rule = make_rule(resolve_action="update", blocks_template=BLOCKS)
    fire(group, rule, occurrence)
    payload = slack.requests[0].json()
    assert payload["blocks"][0]["text"]["text"] == 'Disk "full" &lt;!channel&gt; is firing'
    assert payload["text"].startswith(":red_circle: Disk")
    resolve(group, rule, occurrence)
    [original] = slack.messages("#db")
    assert original.blocks[0]["text"]["text"] == 'Disk "full" &lt;!channel&gt; is resolved'
    assert original.edits[0][1][0]["text"]["text"].endswith("is firing")


def test_blocks_slack_refuses_are_sent_again_as_text(slack, alert):
    group, occurrence = alert
    rule = make_rule(blocks_template=BLOCKS)
    slack.respond_invalid_blocks("[ERROR] unsupported type [json-pointer:/blocks/0/type]")
    assert fire(group, rule, occurrence) == "sent"
    refused, text_only = slack.requests
    assert "blocks" in refused.json()
    assert "blocks" not in text_only.json()
    note = delivery("firing").note
    assert "invalid_blocks" in note
    assert "json-pointer:/blocks/0/type" in note
    assert note.endswith("sent as text.")


def test_blocks_that_fail_at_send_time_leave_the_text(slack, alert):
    group, occurrence = alert
    rule = make_rule(blocks_template='[{"type": "section", "text": {{ labels }}}]')
    assert fire(group, rule, occurrence) == "sent"
    assert "blocks" not in slack.requests[0].json()
    firing = delivery("firing")
    assert firing.blocks is None
    assert firing.note.startswith("The Block Kit template failed") or "not valid" in firing.note


def test_a_long_annotation_is_cut_to_fit_the_section(slack, alert):
    group, occurrence = alert
    instance = group.instances.get()
    instance.annotations = {"summary": "x" * 5000}
    instance.save()
    rule = make_rule(blocks_template=BLOCKS)
    assert fire(group, rule, occurrence) == "sent"
    section = slack.requests[0].json()["blocks"][1]["text"]["text"]
    assert len(section) == 3000
    assert section.endswith("…")
    assert json.loads(json.dumps(slack.messages("#db")[0].blocks))
