"""``manage.py load_demo_rules``: the demo's Slack rules and its silence (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from alerts.models import Silence
from django_slack_rules.models import SlackIntegrationRule

DEMO_RULES: list[dict[str, Any]] = [
    {
        "name": "Database team",
        "description": "Database alerts go to the team that owns them, whatever their severity.",
        "priority": 200,
        "match_criteria": {"category": "database"},
        "slack_channel": "#db-team",
        "message_template": (
            ":red_circle: *{{ alertname }}* is firing on `{{ instance }}`\n{{ summary }}"
            "{% if annotations.runbook %}\n<{{ annotations.runbook }}|Runbook>{% endif %}"
        ),
        "resolved_message_template": (
            ":large_green_circle: *{{ alertname }}* on `{{ instance }}` is resolved"
            '{% if ended_at %} ({{ ended_at|date:"H:i" }} UTC){% endif %}'
        ),
    },
    {
        "name": "Critical alerts",
        "description": "Every other critical alert pages the on-call channel.",
        "priority": 100,
        "match_criteria": {"severity": "critical"},
        "slack_channel": "#oncall",
        "message_template": (
            ":rotating_light: <!here> *{{ alertname }}* on `{{ instance }}`\n{{ summary }}"
            "{% if description %}\n>{{ description }}{% endif %}"
        ),
        "resolved_message_template": "",
    },
    {
        "name": "Everything else",
        "description": "The catch-all: {} matches every alert; the lowest priority.",
        "priority": 0,
        "match_criteria": {},
        "slack_channel": "#alerts",
        "message_template": (
            ":warning: [{{ severity|upper }}] *{{ alertname }}* on `{{ instance }}`: {{ summary }}"
        ),
        "resolved_message_template": "",
    },
]

DEMO_SILENCES: list[dict[str, Any]] = [
    {
        "name": "Maintenance of 10.1.1.11",
        "matchers": {"instance": "10.1.1.11:9100"},
        "comment": "The host is being reinstalled: store its alerts, post nothing.",
    },
]


#: With a bot token (--bot): what the rules do in Slack when an alert resolves, and the
#: buttons their messages offer.
BOT_MODE_CHANGES: dict[str, dict[str, Any]] = {
    # The resolution replies in the firing message's thread and updates that message.
    "Database team": {"resolve_action": "update_and_reply"},
    # The on-call people acknowledge, silence or open the alert from Slack.
    "Critical alerts": {"actions": ["acknowledge", "silence", "open"]},
}


class Command(BaseCommand):
    help = "Create (or reset) the demo's Slack rules and silence."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--bot",
            action="store_true",
            help="rules for a bot-token gateway: a resolution replies in the thread and "
            "updates, and the critical alerts' messages have buttons",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            for data in DEMO_RULES:
                rule = SlackIntegrationRule.objects.filter(name=data["name"]).first()
                rule = rule or SlackIntegrationRule(name=data["name"])
                changes = BOT_MODE_CHANGES.get(data["name"], {}) if options["bot"] else {}
                rule.resolve_action, rule.actions = "post", []
                for key, value in {**data, **changes}.items():
                    setattr(rule, key, value)
                rule.is_active = True
                rule.full_clean()  # the same validation as the rule pages
                rule.save()
            for data in DEMO_SILENCES:
                Silence.objects.update_or_create(name=data["name"], defaults=data)
        self.stdout.write(f"Loaded {len(DEMO_RULES)} Slack rules and {len(DEMO_SILENCES)} silence.")
