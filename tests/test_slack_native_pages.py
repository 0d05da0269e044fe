"""What operators see of threads, updates and Block Kit: the rule form, the preview, the log,
and the checks that explain what webhook mode cannot do."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_slack_rules.checks import check_rules_fit_gateway_mode, check_settings
from django_slack_rules.models import DeliveryState, SlackDelivery, SlackIntegrationRule
from tests.factories import RuleFactory
from tests.utils import url

pytestmark = pytest.mark.django_db


def rule_data(**changes):
    data = {
        "name": "database",
        "priority": "10",
        "match_criteria": '{"team": "db"}',
        "slack_channel": "#db-alerts",
        "message_template": ":fire: {{ alertname }} on {{ instance }}",
        "resolved_message_template": ":white_check_mark: {{ alertname }} resolved",
        "resolve_action": "post",
    }
    data.update(changes)
    return data


def errors(response, field):
    return response.context["form"].errors.get(field, [])


# -- the rule form -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"resolve_action": "reply"}, "resolve_action"),
        ({"refire_in_thread": "on"}, "refire_in_thread"),
    ],
)
def test_webhook_mode_refuses_a_rule_that_asks_for_a_thread_and_says_what_to_do(
    admin_client, changes, field
):
    response = admin_client.post(url("rule-create"), rule_data(**changes))
    assert response.status_code == 200
    [error] = errors(response, field)
    assert 'SLACK_RULES["GATEWAY_MODE"] = "webhook"' in error
    assert "cannot reply in a thread or update a message" in error
    assert '"bot"' in error
    assert not SlackIntegrationRule.objects.exists()


def test_bot_mode_saves_a_rule_that_replies_and_updates(admin_client, slack_rules):
    slack_rules(GATEWAY_MODE="bot")
    page = admin_client.get(url("rule-create")).content.decode()
    assert "The gateway is in bot mode" in page
    response = admin_client.post(
        url("rule-create"),
        rule_data(resolve_action="update_and_reply", reply_broadcast="on", refire_in_thread="on"),
    )
    assert response.status_code == 302
    rule = SlackIntegrationRule.objects.get()
    assert (rule.resolve_action, rule.reply_broadcast, rule.refire_in_thread) == (
        "update_and_reply",
        True,
        True,
    )


def test_a_rule_saved_in_bot_mode_can_still_be_edited_in_webhook_mode(admin_client):
    rule = RuleFactory(name="database", match_criteria={"team": "db"}, resolve_action="reply")
    response = admin_client.post(url("rule-update", rule.pk), rule_data(resolve_action="reply"))
    assert response.status_code == 302  # unchanged: W005 (check --database) reports it
    rule.refresh_from_db()
    assert rule.priority == 10


def test_a_form_without_the_new_fields_posts_a_new_message(admin_client):
    data = rule_data()
    del data["resolve_action"]
    assert admin_client.post(url("rule-create"), data).status_code == 302
    assert SlackIntegrationRule.objects.get().resolve_action == "post"


BLOCKS_OK = """[
  {"type": "header", "text": {"type": "plain_text", "text": "{{ alertname }}"}},
  {"type": "section", "text": {"type": "mrkdwn", "text": "*{{ summary }}*"},
   "fields": [{"type": "mrkdwn", "text": "*Team*\n{{ labels.team }}"}]}
]"""


def test_a_valid_blocks_template_is_saved(admin_client):
    response = admin_client.post(url("rule-create"), rule_data(blocks_template=BLOCKS_OK))
    assert response.status_code == 302
    assert SlackIntegrationRule.objects.get().blocks_template == BLOCKS_OK


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # A JSON error every Python from 3.9 to 3.13 words the same way.
        (
            '[{"type": "divider"} {"type": "divider"}]',
            ["The blocks are not valid JSON: Expecting ',' delimiter at line 1"],
        ),
        (
            '{"type": "divider"}',
            ['The blocks must be a JSON list of blocks, or an object {"blocks"'],
        ),
        (
            '[{"type": "divider"}, {"type": "headr", "text": "x"}]',
            ["Block 2 (headr): Slack has no block type “headr”."],
        ),
        (
            '[{"type": "header", "text": {"type": "plain_text", "text": "{% for i in "1234567890123456789012345" %}{{ alertname }}{% endfor %}"}}]',
            ["Block 1 (header): text attribute cannot exceed 150 characters."],
        ),
        (
            '[{% if status == "resolved" %}{"type": "section"}{% else %}{"type": "divider"}{% endif %}]',
            [
                "For a resolved alert: Block 1 (section): text or fields attribute must be specified."
            ],
        ),
        ("[{% for x in %}]", ["The template does not compile"]),
    ],
)
def test_a_blocks_template_slack_would_refuse_is_a_form_error_naming_the_block(
    admin_client, template, expected
):
    response = admin_client.post(url("rule-create"), rule_data(blocks_template=template))
    assert response.status_code == 200
    found = errors(response, "blocks_template")
    assert len(found) == len(expected), found
    for error, start in zip(found, expected):
        assert error.startswith(start), (error, start)
    assert not SlackIntegrationRule.objects.exists()


@pytest.mark.parametrize(
    "template",
    [
        "not json at all",
        '[{"type": "headr", "text": "x"}]',
        '[{"type": "header", "text": {"type": "plain_text", "text": "' + "x" * 151 + '"}}]',
        json.dumps([{"type": "divider"}] * 51),
    ],
    ids=["not-json", "unknown-type", "long-header", "51-blocks"],
)
def test_every_path_that_saves_a_rule_refuses_bad_blocks_with_the_same_message(
    admin_client, template
):
    """The rule form, the admin's plain ModelForm and full_clean() (the import commands call
    it) all refuse a Block Kit template that can never render to valid Block Kit."""
    from django.core.exceptions import ValidationError
    from django.urls import reverse

    page = errors(
        admin_client.post(url("rule-create"), rule_data(blocks_template=template)),
        "blocks_template",
    )
    admin = admin_client.post(
        reverse("admin:django_slack_rules_slackintegrationrule_add"),
        {**rule_data(blocks_template=template), "is_active": "on"},
    )
    assert admin.status_code == 200
    in_admin = admin.context["adminform"].form.errors["blocks_template"]
    rule = SlackIntegrationRule(
        name="database",
        match_criteria={"team": "db"},
        message_template="{{ alertname }}",
        blocks_template=template,
    )
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    assert page
    assert list(in_admin) == list(page) == refused.value.message_dict["blocks_template"]
    assert not SlackIntegrationRule.objects.exists()


# -- the preview -------------------------------------------------------------------


def preview(client, rule, labels=None, annotations=None, status="firing"):
    return client.post(
        url("rule-preview", rule.pk),
        {
            "labels": json.dumps(labels or {"alertname": "HighCPU", "team": "db"}),
            "annotations": json.dumps(annotations or {"summary": "CPU high"}),
            "status": status,
            "preview": "",
        },
    )


def test_the_preview_shows_mrkdwn_as_slack_does(admin_client):
    rule = RuleFactory(
        message_template=(
            ":fire: *{{ alertname }}* _{{ labels.team }}_ ~old~ `{{ instance }}` <!here>\n"
            ">{{ summary }}\n<https://runbooks/{{ alertname }}|Runbook> <#C0123|ops>"
        )
    )
    content = preview(admin_client, rule).content.decode()
    shown = re.search(r'<div class="dsr-mrkdwn">(.*?)</div>', content, re.S)[1]
    assert "🔥 <strong>HighCPU</strong> <em>db</em> <del>old</del>" in shown
    assert '<span class="dsr-mention dsr-mention-special">@here</span>' in shown
    assert '<blockquote class="dsr-quote">CPU high</blockquote>' in shown
    assert '<a href="https://runbooks/HighCPU" rel="nofollow noopener noreferrer"' in shown
    assert ">Runbook</a>" in shown
    assert '<span class="dsr-mention dsr-mention-channel">#ops</span>' in shown
    # The text Slack gets is one click away.
    assert '<details class="mt-2 dsr-raw">' in content
    assert '<pre class="dsr-message mb-2">:fire: *HighCPU* _db_' in content


def test_the_preview_cannot_be_made_to_run_script_by_an_alert(admin_client):
    rule = RuleFactory(
        message_template="*{{ alertname }}* <{{ annotations.url }}|{{ labels.team }}>",
        blocks_template=(
            '[{"type": "section", "text": {"type": "mrkdwn", "text": "{{ summary }}"},'
            ' "accessory": {"type": "button", "text": {"type": "plain_text", "text": "go"},'
            ' "url": "{{ annotations.url }}"}},'
            ' {"type": "image", "image_url": "{{ annotations.url }}", "alt_text": "{{ summary }}"}]'
        ),
    )
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
    content = preview(
        admin_client,
        rule,
        labels={"alertname": evil, "team": evil},
        annotations={"summary": evil, "url": "javascript:alert(3)"},
    ).content.decode()
    body = content[content.index('class="dsr-slack') :]
    assert "<script>" not in body
    assert "<img src=x" not in body
    assert "&lt;javascript:alert(3)|" in body  # a link Slack would not make: shown as text
    assert 'href="javascript' not in content
    assert 'src="javascript' not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_the_preview_renders_blocks_and_the_exact_payload(admin_client):
    rule = RuleFactory(
        message_template="{{ alertname }} is {{ status }}",
        blocks_template="""[
          {"type": "header", "text": {"type": "plain_text", "text": ":fire: {{ alertname }}"}},
          {"type": "section", "text": {"type": "mrkdwn", "text": "*{{ summary }}*"},
           "fields": [{"type": "mrkdwn", "text": "*Team*\n{{ labels.team }}"},
                      {"type": "plain_text", "text": "<b>{{ labels.team }}</b>"}]},
          {"type": "divider"},
          {"type": "context", "elements": [{"type": "mrkdwn", "text": "fingerprint `{{ fingerprint }}`"}]},
          {"type": "image", "image_url": "https://grafana/render.png", "alt_text": "graph"},
          {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Silence"}, "url": "https://am/silence"}]},
          {"type": "input", "label": {"type": "plain_text", "text": "x"}, "element": {"type": "plain_text_input"}}
        ]""",
    )
    response = preview(admin_client, rule)
    content = response.content.decode()
    assert '<div class="dsr-block dsr-block-header">🔥 HighCPU</div>' in content
    assert '<div class="dsr-section-text"><strong>CPU high</strong></div>' in content
    assert '<div class="dsr-field"><strong>Team</strong><br>db</div>' in content
    assert '<div class="dsr-field">&lt;b&gt;db&lt;/b&gt;</div>' in content  # plain_text
    assert '<hr class="dsr-block dsr-block-divider">' in content
    assert "fingerprint <code>preview</code>" in content
    assert '<img src="https://grafana/render.png" alt="graph">' in content
    assert 'href="https://am/silence"' in content
    assert ">Silence</a>" in content
    assert "A “input” block: sent to Slack, not shown in this preview." in content
    assert "Notification text:" in content
    [(method, payload)] = response.context["preview"].calls
    assert method == "incoming webhook"
    assert payload["text"] == "HighCPU is firing"
    assert [b["type"] for b in payload["blocks"]][:3] == ["header", "section", "divider"]
    assert "&quot;blocks&quot;: [" in content


def test_the_preview_says_what_a_resolution_does(admin_client, slack_rules):
    rule = RuleFactory(resolved_message_template="resolved", resolve_action="update_and_reply")
    webhook = preview(admin_client, rule, status="resolved").content.decode()
    assert "which the gateway's webhook mode cannot do" in webhook
    slack_rules(GATEWAY_MODE="bot")
    response = preview(admin_client, rule, status="resolved")
    content = response.content.decode()
    assert "it will update the firing message and reply in its thread." in content
    calls = response.context["preview"].calls
    assert [method for method, _ in calls] == ["chat.postMessage", "chat.update"]
    assert calls[0][1]["thread_ts"] == "<the firing message's ts>"
    assert calls[1][1]["ts"] == "<the firing message's ts>"


def test_blocks_that_would_not_be_sent_are_explained_in_the_preview(admin_client):
    rule = RuleFactory(blocks_template='[{"type": "section", "text": {{ labels }}}]')
    content = preview(admin_client, rule).content.decode()
    assert "Slack would get the text only: The Block Kit template failed" in content
    assert 'class="dsr-mrkdwn"' in content


# -- the delivery log --------------------------------------------------------------


def conversation(rule):
    common = {"rule": rule, "rule_name": rule.name, "alert_id": "7", "channel": "#db"}
    firing = SlackDelivery.objects.create(
        **common,
        alert_status="firing",
        idempotency_key="f",
        text="firing",
        state=DeliveryState.SENT,
        message_ts="1.1",
    )
    other = SlackDelivery.objects.create(
        **common, alert_status="firing", idempotency_key="o", text="another alert"
    )
    reply = SlackDelivery.objects.create(
        **common,
        alert_status="resolved",
        idempotency_key="r",
        text="resolved",
        action="reply",
        parent=firing,
        state=DeliveryState.FAILED,
        slack_error="not_in_channel",
    )
    update = SlackDelivery.objects.create(
        **common,
        alert_status="resolved",
        idempotency_key="u",
        text="resolved",
        action="update",
        parent=firing,
        state=DeliveryState.CANCELLED,
        note="Not updated: Slack answered cant_update_message.",
    )
    return firing, other, reply, update


def rows(content):
    return re.findall(
        r'<tr class="dsr-delivery( dsr-followup)?" data-state="(\w+)" data-action="(\w+)">', content
    )


def test_the_delivery_log_groups_a_firing_message_with_its_replies_and_updates(admin_client):
    conversation(RuleFactory(name="db"))
    content = admin_client.get(url("delivery-list")).content.decode()
    assert rows(content) == [
        ("", "pending", "post"),  # the newest conversation first
        ("", "sent", "post"),
        (" dsr-followup", "failed", "reply"),
        (" dsr-followup", "cancelled", "update"),
    ]
    assert ">thread reply</span>" in content
    assert "Not updated: Slack answered cant_update_message." in content
    assert "Invite the Slack app to the channel" in content  # the failed reply's hint
    # A filter keeps the whole conversation of a follow-up that matches.
    failed = admin_client.get(url("delivery-list"), {"state": "failed"}).content.decode()
    assert rows(failed) == [
        ("", "sent", "post"),
        (" dsr-followup", "failed", "reply"),
        (" dsr-followup", "cancelled", "update"),
    ]


# -- checks ------------------------------------------------------------------------


def test_an_unknown_gateway_mode_is_an_error(slack_rules):
    slack_rules(GATEWAY_MODE="bots")
    [message] = check_settings()
    assert message.id == "django_slack_rules.E011"
    assert "'bots'" in message.msg
    assert '"webhook"' in message.hint
    assert '"bot"' in message.hint


@pytest.mark.parametrize(("key", "value"), [("THREAD_WAIT", -1), ("EDIT_WINDOW", 0)])
def test_the_new_numbers_are_checked(slack_rules, key, value):
    slack_rules(**{key: value})
    assert [m.id for m in check_settings()] == ["django_slack_rules.E008"]


def test_rules_webhook_mode_cannot_serve_are_listed_when_the_database_is_checked(slack_rules):
    RuleFactory(name="replies", resolve_action="reply")
    RuleFactory(name="threads", refire_in_thread=True)
    RuleFactory(name="plain")
    RuleFactory(name="inactive", resolve_action="update", is_active=False)
    assert check_rules_fit_gateway_mode(databases=None) == []  # `check` without --database
    [message] = check_rules_fit_gateway_mode(databases=["default"])
    assert message.id == "django_slack_rules.W005"
    assert "Rules 'replies', 'threads' ask for thread replies" in message.msg
    assert 'GATEWAY_MODE"] = "bot"' in message.hint
    with pytest.raises(SystemCheckError, match="W005"):
        call_command("check", "--database", "default", "--fail-level", "WARNING")
    call_command("check", "--fail-level", "WARNING")  # no database: nothing to say
    slack_rules(GATEWAY_MODE="bot")
    assert check_rules_fit_gateway_mode(databases=["default"]) == []


def test_a_test_send_sends_the_blocks_too(admin_client, slack_endpoint):
    rule = RuleFactory(
        slack_channel="#db",
        message_template="{{ alertname }}",
        blocks_template='[{"type": "section", "text": {"type": "mrkdwn", "text": "*{{ alertname }}*"}}]',
    )
    data = {
        "labels": json.dumps({"alertname": "HighCPU"}),
        "annotations": "{}",
        "status": "firing",
        "send": "",
    }
    admin_client.post(url("rule-preview", rule.pk), data)
    [request] = slack_endpoint.requests
    assert request.json() == {
        "channel": "#db",
        "text": "HighCPU",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*HighCPU*"}}],
    }
    assert SlackDelivery.objects.get().blocks == request.json()["blocks"]
