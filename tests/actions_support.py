"""What the tests of actions from Slack share: a rule with buttons, its message sent with
them through the real delivery code, and the host's users."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from django_slack_rules.adapters import get_adapter
from django_slack_rules.models import STATUS_FIRING, SlackDelivery, SlackIntegrationRule
from django_slack_rules.services.actions.offer import with_actions
from django_slack_rules.services.delivery import deliver
from django_slack_rules.services.message import build_delivery
from tests.factories import AlertInstanceFactory, RuleFactory

#: The signing secret of the test's Slack app.
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example's shape

ALL_ACTIONS = ["acknowledge", "silence", "open"]


def rule_with_buttons(**fields: Any) -> SlackIntegrationRule:
    return RuleFactory(
        name=fields.pop("name", "web"),
        match_criteria=fields.pop("match_criteria", {"team": "web"}),
        slack_channel=fields.pop("slack_channel", "#web"),
        message_template=fields.pop("message_template", ":fire: *{{ alertname }}* {{ summary }}"),
        actions=fields.pop("actions", ALL_ACTIONS),
        **fields,
    )


def firing_alert(**labels: str) -> tuple[Any, Any]:
    instance = AlertInstanceFactory(
        alert_group__labels={"alertname": "HighCPU", "team": "web", **labels},
        annotations={"summary": "CPU above 90%"},
    )
    return instance.alert_group, instance


def send_with_buttons(
    rule: SlackIntegrationRule, alert: Any, instance: Any = None
) -> SlackDelivery:
    """The rule's firing message for ``alert``, built, recorded and sent by the package's own
    code, with the buttons ``services.actions.offer.with_actions`` adds where the message's
    blocks are made (``services/message._render`` calls it once the delivery path is wired)."""
    adapter = get_adapter()
    occurrence = adapter.get_occurrence_key(alert, instance)
    delivery = build_delivery(adapter, alert, rule, STATUS_FIRING, occurrence, instance=instance)
    delivery.blocks = with_actions(
        adapter, alert, rule, STATUS_FIRING, occurrence, delivery.text, delivery.blocks
    )
    delivery.save(force_insert=True)
    deliver(delivery, paced=False)
    delivery.refresh_from_db()
    return delivery


def host_user(username: str = "alice", **fields: Any) -> User:
    return User.objects.create_user(
        username=username, email=fields.pop("email", f"{username}@example.com"), **fields
    )
