"""Rule validation and the delivery record."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from django_slack_rules.models import SlackDelivery, SlackIntegrationRule
from tests.factories import RuleFactory


def full_clean_errors(**fields):
    rule = SlackIntegrationRule(**{"name": "r", "message_template": "x", **fields})
    with pytest.raises(ValidationError) as info:
        rule.full_clean()
    return info.value.message_dict


@pytest.mark.django_db
class TestRuleValidation:
    def test_a_good_rule_validates(self):
        rule = SlackIntegrationRule(
            name="ok",
            match_criteria={"severity": "critical"},
            slack_channel="#ops-alerts",
            message_template="{{ alertname }}",
            resolved_message_template="{{ alertname }} resolved",
        )
        rule.full_clean()

    @pytest.mark.parametrize("channel", ["", "#ops", "#db_team-1", "C0123ABCDEF", "G01234567"])
    def test_channels_accepted(self, channel):
        SlackIntegrationRule(name="r", message_template="x", slack_channel=channel).full_clean()

    @pytest.mark.parametrize(
        "channel", ["ops", "#Ops", "# ops", "https://hooks.example/x", "c0123abcd"]
    )
    def test_channels_rejected(self, channel):
        errors = full_clean_errors(slack_channel=channel)
        assert "is not a Slack channel" in errors["slack_channel"][0]

    def test_criteria_must_be_an_object_or_a_list(self):
        errors = full_clean_errors(match_criteria="severity")
        assert "must be a JSON object of label → value" in errors["match_criteria"][0]
        assert "or a list of Alertmanager matchers" in errors["match_criteria"][0]
        assert "not a string" in errors["match_criteria"][0]

    def test_the_list_form_holds_alertmanager_matchers(self):
        rule = SlackIntegrationRule(
            name="ok",
            match_criteria=['severity=~"critical|page"', 'team!="db"', "env=prod", "x!~a.*"],
            message_template="{{ alertname }}",
        )
        rule.full_clean()
        SlackIntegrationRule(name="all", match_criteria=[], message_template="x").full_clean()

    def test_a_matcher_that_does_not_parse_is_named_with_its_position(self):
        errors = full_clean_errors(match_criteria=['team="db"', "severity critical", 5])
        first, second = errors["match_criteria"]
        assert first.startswith('Matcher 2 ("severity critical"): expected one of =, !=, =~, !~')
        assert "at position 8" in first
        assert second == 'Matcher 3 must be a string such as severity="critical", not a number (5).'

    def test_a_regex_re2_refuses_is_named_with_its_position(self):
        errors = full_clean_errors(match_criteria=['host=~"db(?!-test)"'])
        [message] = errors["match_criteria"]
        assert message.startswith("Matcher 1 ('host=~\"db(?!-test)\"'): the regex")
        assert "not valid RE2" in message
        assert "at position 9" in message
        assert "lookahead" in message

    def test_criteria_values_must_be_strings_and_the_message_names_the_key(self):
        errors = full_clean_errors(match_criteria={"code": 500, "team": "db"})
        message = errors["match_criteria"][0]
        assert "'code'" in message
        assert "a number" in message
        assert '"code": "500"' in message

    def test_criteria_keys_must_be_non_empty(self):
        errors = full_clean_errors(match_criteria={" ": "x"})
        assert "non-empty label names" in errors["match_criteria"][0]

    def test_templates_must_compile(self):
        errors = full_clean_errors(
            message_template="{% if x %}", resolved_message_template="{{ x|nosuchfilter }}"
        )
        assert "does not compile" in errors["message_template"][0]
        assert "nosuchfilter" in errors["resolved_message_template"][0]

    def test_name_is_unique(self):
        RuleFactory(name="same")
        with pytest.raises(IntegrityError):
            SlackIntegrationRule.objects.create(name="same", message_template="x")


class TestChannelResolution:
    def test_rule_channel_wins(self):
        rule = SlackIntegrationRule(slack_channel="#a")
        assert rule.resolve_channel({"channel": "b"}, default="#alerts") == "#a"

    def test_alert_channel_label_then_default(self):
        rule = SlackIntegrationRule(slack_channel="")
        assert rule.resolve_channel({"channel": "db-alerts"}, default="#x") == "#db-alerts"
        assert rule.resolve_channel({"channel": "C0123ABCDEF"}, default="#x") == "C0123ABCDEF"
        assert rule.resolve_channel({}, default="#fallback") == "#fallback"


def test_rules_are_ordered_by_priority_then_name(db):
    RuleFactory(name="b", priority=1)
    RuleFactory(name="a", priority=1)
    RuleFactory(name="z", priority=5)
    assert [r.name for r in SlackIntegrationRule.objects.all()] == ["z", "a", "b"]


def test_idempotency_key_is_unique_and_bounded(db):
    key = SlackDelivery.make_key(1, 2, "firing", "3")
    assert key == "rule:1|alert:2|firing|occ:3"
    assert len(SlackDelivery.make_key(1, 2, "firing", "x" * 500)) <= 255
    SlackDelivery.objects.create(idempotency_key=key, alert_id="2", alert_status="firing")
    with pytest.raises(IntegrityError):
        SlackDelivery.objects.create(idempotency_key=key, alert_id="2", alert_status="firing")
