"""The admin: rule and delivery pages, and their actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from django_slack_rules.models import DeliveryState, SlackDelivery, SlackIntegrationRule
from django_slack_rules.services.slack_matcher import SlackRuleMatcherService
from tests.factories import RuleFactory

pytestmark = pytest.mark.django_db


def test_rule_pages_render(admin_client):
    rule = RuleFactory(name="db", match_criteria={"team": "db"})
    changelist = admin_client.get(
        reverse("admin:django_slack_rules_slackintegrationrule_changelist")
    )
    assert changelist.status_code == 200
    assert b"db" in changelist.content
    change = admin_client.get(
        reverse("admin:django_slack_rules_slackintegrationrule_change", args=[rule.pk])
    )
    assert change.status_code == 200


def test_rule_form_rejects_a_template_that_does_not_compile(admin_client):
    response = admin_client.post(
        reverse("admin:django_slack_rules_slackintegrationrule_add"),
        {
            "name": "broken",
            "is_active": "on",
            "priority": "0",
            "match_criteria": '{"team": 5}',
            "slack_channel": "#ops",
            "message_template": "{% if %}",
            "resolved_message_template": "",
        },
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "The template does not compile" in content
    assert "the value must be a string, got a number" in content
    assert not SlackIntegrationRule.objects.exists()


def test_the_admin_takes_the_list_form_and_continue_matching(admin_client):
    data = {
        "name": "pager",
        "is_active": "on",
        "priority": "0",
        "match_criteria": '["severity=~\\"critical|page\\"", "team db"]',
        "continue_matching": "on",
        "resolve_action": "post",  # the form's initial choice
        "slack_channel": "#ops",
        "message_template": "{{ alertname }}",
        "resolved_message_template": "",
    }
    add = reverse("admin:django_slack_rules_slackintegrationrule_add")
    response = admin_client.post(add, data)
    assert response.status_code == 200
    assert "Matcher 2 (&quot;team db&quot;): expected one of" in response.content.decode()
    response = admin_client.post(add, {**data, "match_criteria": '["severity=~\\"page\\""]'})
    assert response.status_code == 302
    rule = SlackIntegrationRule.objects.get(name="pager")
    assert (rule.match_criteria, rule.continue_matching) == (['severity=~"page"'], True)


def test_activate_and_deactivate_actions_reach_the_matcher(admin_client):
    rule = RuleFactory(name="db", match_criteria={"team": "db"})
    matcher = SlackRuleMatcherService()
    assert matcher.find_matching_rule({"team": "db"}) == rule
    url = reverse("admin:django_slack_rules_slackintegrationrule_changelist")
    response = admin_client.post(
        url, {"action": "deactivate", "_selected_action": [rule.pk]}, follow=True
    )
    assert "1 rule deactivated." in response.content.decode()
    assert matcher.find_matching_rule({"team": "db"}) is None
    admin_client.post(url, {"action": "activate", "_selected_action": [rule.pk]})
    assert matcher.find_matching_rule({"team": "db"}) == rule


def test_resend_failed_deliveries(admin_client, outbox, eager, django_capture_on_commit_callbacks):
    failed = SlackDelivery.objects.create(
        idempotency_key="a", alert_id="1", alert_status="firing", channel="#db", text="retry me",
        state=DeliveryState.FAILED, attempts=8, last_error="HTTP 404", slack_error="channel_not_found",
    )  # fmt: skip
    sent = SlackDelivery.objects.create(
        idempotency_key="b", alert_id="2", alert_status="firing", channel="#db", text="done",
        state=DeliveryState.SENT, attempts=1,
    )  # fmt: skip
    url = reverse("admin:django_slack_rules_slackdelivery_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url, {"action": "resend_failed", "_selected_action": [failed.pk, sent.pk]}, follow=True
        )
    assert "1 delivery queued again." in response.content.decode()
    assert [m.text for m in outbox] == ["retry me"]
    failed.refresh_from_db()
    assert (failed.state, failed.attempts, failed.slack_error) == ("sent", 1, "")


def test_delivery_pages_are_read_only(admin_client):
    delivery = SlackDelivery.objects.create(
        idempotency_key="a", alert_id="1", alert_status="firing", channel="#db", text="x"
    )
    assert (
        admin_client.get(reverse("admin:django_slack_rules_slackdelivery_add")).status_code == 403
    )
    page = admin_client.get(
        reverse("admin:django_slack_rules_slackdelivery_change", args=[delivery.pk])
    )
    assert page.status_code == 200
    assert b'name="text"' not in page.content
