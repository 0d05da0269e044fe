"""What every supported database (SQLite, PostgreSQL, MariaDB) gives back as it was written:
text outside the Basic Multilingual Plane (MariaDB needs utf8mb4 for it), and the longest
rule name under its unique index (MariaDB limits index length in bytes)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from django_slack_rules.models import DeliveryState, SlackDelivery, SlackIntegrationRule
from django_slack_rules.services.slack_matcher import SlackRuleMatcherService
from django_slack_rules.tasks import process_slack_for_alert_group
from tests.factories import AlertInstanceFactory, RuleFactory

pytestmark = pytest.mark.django_db


def test_emoji_and_non_latin_text_are_matched_sent_and_recorded(slack_endpoint, eager):
    rule = RuleFactory(
        name="🔥 Störung データベース",
        match_criteria={"team": "データ🗄️"},
        slack_channel="#db",
        message_template="🚨 {{ alertname }}: {{ summary }}",
    )
    instance = AlertInstanceFactory(
        alert_group__labels={"alertname": "Plattenplatz💾", "team": "データ🗄️"},
        annotations={"summary": "fast voll 😱"},
    )
    alert = instance.alert_group

    assert SlackRuleMatcherService().find_matching_rule(alert.labels) == rule
    process_slack_for_alert_group.apply(args=(alert.pk, rule.pk), kwargs={"status": "firing"})

    [request] = slack_endpoint.wait_for_requests(1)
    assert request.json()["text"] == "🚨 Plattenplatz💾: fast voll 😱"
    delivery = SlackDelivery.objects.get()
    assert delivery.state == DeliveryState.SENT
    assert delivery.text == "🚨 Plattenplatz💾: fast voll 😱"
    assert delivery.rule_name == "🔥 Störung データベース"
    stored = SlackIntegrationRule.objects.get(pk=rule.pk)
    assert stored.match_criteria == {"team": "データ🗄️"}


def test_the_longest_rule_name_is_stored_and_stays_unique():
    name = "🔥" * 255  # 1,020 bytes in utf8mb4: still under MariaDB's index key limit
    RuleFactory(name=name)
    assert SlackIntegrationRule.objects.get(name=name).name == name
    duplicate = SlackIntegrationRule(name=name, match_criteria={}, message_template="x")
    with pytest.raises(ValidationError) as raised:
        duplicate.full_clean()
    assert "name" in raised.value.message_dict
