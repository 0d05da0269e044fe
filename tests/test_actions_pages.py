"""What operators see of buttons: the rule form, the preview, the delivery log, the checks
that say which actions this host can offer, and the SentryHub adapter's part."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_slack_rules.adapters import AlertGroupAdapter, get_adapter
from django_slack_rules.checks import check_action_settings, check_rules_actions
from django_slack_rules.models import SlackAction, SlackIntegrationRule
from django_slack_rules.services.actions.offer import available_actions, with_actions
from django_slack_rules.services.preview import preview_message
from tests.actions_support import firing_alert, host_user, rule_with_buttons
from tests.factories import AlertGroupFactory, RuleFactory
from tests.utils import notify, url

pytestmark = pytest.mark.django_db

SITE = "https://alerts.example.com"


@pytest.fixture
def bot(slack_rules):
    return slack_rules(GATEWAY_MODE="bot", SITE_URL=SITE)


class NoSilenceAdapter(AlertGroupAdapter):
    """A host whose alerts cannot be silenced: its adapter has no silence()."""

    silence = None  # type: ignore[assignment]


class ElsewhereAdapter(AlertGroupAdapter):
    """A host without SentryHub's service (its app has no services.alerts_processor)."""

    acknowledge_function = "services.nowhere.acknowledge_alert"


def rule_data(**changes):
    data = {
        "name": "web",
        "priority": "0",
        "match_criteria": '{"team": "web"}',
        "slack_channel": "#web",
        "message_template": ":fire: {{ alertname }}",
        "resolve_action": "post",
    }
    data.update(changes)
    return data


# -- the rule form ---------------------------------------------------------------------


def test_the_form_saves_the_buttons_in_their_order_in_bot_mode(admin_client, bot):
    page = admin_client.get(url("rule-create")).content.decode()
    assert "Buttons in Slack" in page
    assert "Acknowledge: the clicker acknowledges the alert in the host" in page
    response = admin_client.post(url("rule-create"), rule_data(actions=["open", "acknowledge"]))
    assert response.status_code == 302
    assert SlackIntegrationRule.objects.get().actions == ["acknowledge", "open"]


def test_webhook_mode_refuses_buttons_and_says_how_to_switch(admin_client):
    response = admin_client.post(url("rule-create"), rule_data(actions=["acknowledge"]))
    [error] = response.context["form"].errors["actions"]
    assert "Buttons need the gateway in bot mode" in error
    assert not SlackIntegrationRule.objects.exists()


def test_an_action_this_host_cannot_do_is_refused_with_the_reason(admin_client, bot, slack_rules):
    slack_rules(ADAPTER=f"{__name__}.NoSilenceAdapter")
    page = admin_client.get(url("rule-create")).content.decode()
    assert (
        "Not available here: Silence: the adapter NoSilenceAdapter has no silence() method." in page
    )
    response = admin_client.post(url("rule-create"), rule_data(actions=["silence"]))
    [error] = response.context["form"].errors["actions"]
    assert (
        error
        == "Silence is not available here: the adapter NoSilenceAdapter has no silence() method."
    )


def test_a_rule_keeps_an_action_that_became_unavailable_when_edited(admin_client, bot, slack_rules):
    rule = rule_with_buttons(actions=["acknowledge", "silence"])
    slack_rules(ADAPTER=f"{__name__}.NoSilenceAdapter")
    response = admin_client.post(
        url("rule-update", rule.pk),
        rule_data(name="web", priority="5", actions=["acknowledge", "silence"]),
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.priority, rule.actions) == (5, ["acknowledge", "silence"])


# -- which buttons a message carries -----------------------------------------------------


def test_a_message_carries_only_what_the_adapter_can_do(bot, slack_rules):
    alert, instance = firing_alert()
    rule = rule_with_buttons()
    adapter = get_adapter()
    [block] = with_actions(adapter, alert, rule, "firing", str(instance.pk), "text", [])[-1:]
    assert [e["action_id"] for e in block["elements"]] == [
        "dsr_acknowledge",
        "dsr_silence",
        "dsr_open",
    ]
    assert block["elements"][2]["url"] == f"{SITE}/alerts/{alert.fingerprint}/"
    slack_rules(ADAPTER=f"{__name__}.ElsewhereAdapter")
    [block] = with_actions(get_adapter(), alert, rule, "firing", str(instance.pk), "t", None)[-1:]
    assert [e["action_id"] for e in block["elements"]] == ["dsr_silence", "dsr_open"]
    problems = available_actions(get_adapter())
    assert problems["acknowledge"] == (
        "tests.alerts.services.nowhere.acknowledge_alert does not import "
        "(No module named 'tests.alerts.services.nowhere')"
    )
    # Nothing on a resolution, and nothing in webhook mode.
    assert with_actions(adapter, alert, rule, "resolved", "1", "t", None) is None
    slack_rules(GATEWAY_MODE="webhook")
    assert with_actions(adapter, alert, rule, "firing", "1", "t", None) is None


def test_a_fired_alert_of_a_rule_with_buttons_is_sent_with_them(outbox, bot):
    rule = rule_with_buttons()
    alert, instance = firing_alert()
    assert notify(alert.pk, rule.pk, "firing", str(instance.pk), paced=False) == "sent"
    [message] = outbox
    buttons = message.extra["payload"]["blocks"][-1]
    assert (buttons["type"], buttons["block_id"]) == (
        "actions",
        rule.deliveries.get().idempotency_key,
    )
    assert rule.deliveries.get().blocks[-1] == buttons  # the log keeps what was sent


# -- the preview -------------------------------------------------------------------------


def test_the_preview_shows_the_buttons_as_slack_will(admin_client, bot):
    rule = rule_with_buttons()
    preview = preview_message(rule, {"team": "web", "alertname": "HighCPU"}, {}, "firing")
    section, buttons = preview.blocks
    assert section["text"]["text"] == preview.text
    assert buttons["block_id"] == "preview"
    assert buttons["elements"][2]["url"] == f"{SITE}/alerts/preview/"
    content = admin_client.get(url("rule-preview", rule.pk)).content.decode()
    assert ">Acknowledge</a>" in content
    assert "Silence for… <span" in content
    assert "Open in SentryHub</a>" in content
    assert "&quot;action_id&quot;: &quot;dsr_acknowledge&quot;" in content  # the exact payload


def test_the_preview_says_why_a_chosen_button_is_missing(admin_client, slack_rules):
    rule = rule_with_buttons(actions=["acknowledge", "open"])
    preview = preview_message(rule, {"team": "web"}, {}, "firing")
    assert preview.blocks is None
    assert preview.action_notes == [
        'No buttons: the gateway is in webhook mode (SLACK_RULES["GATEWAY_MODE"] = "webhook"), '
        "and buttons need bot mode."
    ]
    slack_rules(GATEWAY_MODE="bot", SITE_URL=None)
    content = admin_client.get(url("rule-preview", rule.pk)).content.decode()
    assert "This rule chose buttons that its messages do not carry here" in content
    assert (
        "No open button: SLACK_RULES[&quot;SITE_URL&quot;] (or settings.SITE_URL) is not set"
        in content
    )


# -- the delivery log --------------------------------------------------------------------


def test_the_delivery_log_shows_each_action_who_what_when_and_why(admin_client, bot):
    from django_slack_rules.models import SlackDelivery

    alice = host_user("alice")
    rule = rule_with_buttons()
    delivery = SlackDelivery.objects.create(
        rule=rule,
        rule_name="web",
        alert_id="1",
        alert_status="firing",
        idempotency_key="k",
        channel="#web",
    )
    clicked = timezone.now() - datetime.timedelta(minutes=3)
    common = {"delivery": delivery, "channel_id": "C0WEB", "clicked_at": clicked}
    SlackAction.objects.create(
        request_key="a",
        action="acknowledge",
        slack_user_name="alice",
        user=alice,
        state="done",
        **common,
    )
    SlackAction.objects.create(
        request_key="b",
        action="silence",
        value="3600",
        slack_user_name="bob",
        state="refused",
        reason="No SentryHub user has your email address (bob@elsewhere.example).",
        notice_state="failed",
        notice_error="Slack refused the message (user_not_in_channel)",
        **common,
    )
    SlackAction.objects.create(
        request_key="c", action="unknown", action_id="deploy_now", slack_user_name="carol", state="refused",
        reason="This message is not in the delivery log any more.", clicked_at=clicked,
    )  # fmt: skip
    content = admin_client.get(url("delivery-list")).content.decode()
    assert content.count('class="dsr-action"') == 3
    assert "by @alice (as alice)" in content
    assert ">done</span>" in content
    assert "by @bob" in content
    assert ">refused</span>" in content
    assert "No SentryHub user has your email address (bob@elsewhere.example)." in content
    assert "Slack was not told: Slack refused the message (user_not_in_channel)" in content
    assert clicked.strftime("%Y-%m-%d %H:%M") in content
    assert "Clicks on messages not in this log" in content
    assert "deploy_now" in content


# -- checks and the adapter ----------------------------------------------------------------


def test_which_actions_are_available_is_said_when_rules_ask_for_others(
    bot, slack_rules, monkeypatch
):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    rule_with_buttons(actions=["acknowledge", "silence"])
    assert check_rules_actions(databases=["default"]) == []
    slack_rules(ADAPTER=f"{__name__}.NoSilenceAdapter")
    [warning] = check_rules_actions(databases=["default"])
    assert warning.id == "django_slack_rules.W008"
    assert "'web'" in warning.msg
    assert "silence: the adapter NoSilenceAdapter has no silence() method" in warning.msg
    assert warning.hint.startswith("Available here: acknowledge, open.")
    assert check_rules_actions(databases=None) == []  # only when a database is asked for


def test_rules_with_buttons_and_no_signing_secret_are_warned_about(bot, monkeypatch):
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    rule_with_buttons(actions=["acknowledge", "open"])
    [warning] = check_rules_actions(databases=["default"])
    assert (
        "acknowledge: no signing secret (SIGNING_SECRET_FILE or SLACK_SIGNING_SECRET)"
        in warning.msg
    )
    assert warning.hint.startswith("Available here: open.")


def test_an_unreadable_secret_file_and_a_bad_resolver_are_errors(slack_rules, tmp_path):
    slack_rules(SIGNING_SECRET_FILE=str(tmp_path / "missing"), USER_RESOLVER="tests.nowhere.find")
    e015, e016 = check_action_settings()
    assert e015.id == "django_slack_rules.E015"
    assert "cannot be read (No such file or directory)" in e015.msg
    assert e016.id == "django_slack_rules.E016"
    (tmp_path / "empty").write_text("\n")
    slack_rules(SIGNING_SECRET_FILE=str(tmp_path / "empty"), USER_RESOLVER="tests.utils.NS")
    [e015, e016] = check_action_settings()
    assert "is empty" in e015.msg
    assert "it is not callable" in e016.msg
    with pytest.raises(Exception, match="E015"):
        call_command("check")


def test_a_silence_that_has_ended_silences_no_more():
    adapter = AlertGroupAdapter()
    now = timezone.now()
    ended = AlertGroupFactory(is_silenced=True)
    ended.silenced_until = now - datetime.timedelta(seconds=1)
    assert adapter.is_silenced(ended) is False
    ended.silenced_until = now + datetime.timedelta(hours=1)
    assert adapter.is_silenced(ended) is True
    ended.silenced_until = None
    assert adapter.is_silenced(ended) is True


def test_who_may_act_is_an_active_account_or_a_named_permission():
    class Strict(AlertGroupAdapter):
        action_permissions = {"silence": "alerts.add_silencerule"}

    alice = host_user("alice")
    alert = AlertGroupFactory()
    assert Strict().can(alice, "acknowledge", alert) is True
    assert Strict().can(alice, "silence", alert) is False
    assert Strict().cannot_reason(alice, "silence") == (
        "it lacks the permission alerts.add_silencerule"
    )
    RuleFactory()  # unrelated rules do not matter
