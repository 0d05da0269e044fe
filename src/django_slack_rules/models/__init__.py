"""The package's models: rules, delivery records, and what keeps workers in step.

One module each (``rules``, ``ruleset`` (the log of rule changes), ``deliveries``,
``coordination``, ``choices``, ``metrics``); every name is importable from
``django_slack_rules.models``, as Django and the rest of the package expect.
``actions`` holds the clicks on a message's buttons and the Slack user links.
"""

from .actions import (
    FINAL_ACTION_STATES,
    ActionState,
    NoticeState,
    SlackAction,
    SlackUserLink,
)
from .choices import (
    ACTION_POST,
    ACTION_REPLY,
    ACTION_UPDATE,
    FINAL_STATES,
    RESOLVE_POST,
    RESOLVE_REPLY,
    RESOLVE_UPDATE,
    RESOLVE_UPDATE_AND_REPLY,
    STATUS_DIGEST,
    STATUS_FIRING,
    STATUS_RESOLVED,
    DeliveryAction,
    DeliveryState,
    ResolveAction,
)
from .coordination import DestinationPace, DestinationPause, KnownChannel, RuleSetVersion
from .deliveries import SlackDelivery
from .metrics import MetricsCount, MetricsOpenDelivery, MetricsTally
from .rules import (
    SlackIntegrationRule,
    SlackIntegrationRuleQuerySet,
    note_change,
    rules_changed,
)
from .ruleset import RuleChange

__all__ = [
    "ACTION_POST",
    "ACTION_REPLY",
    "ACTION_UPDATE",
    "FINAL_ACTION_STATES",
    "FINAL_STATES",
    "RESOLVE_POST",
    "RESOLVE_REPLY",
    "RESOLVE_UPDATE",
    "RESOLVE_UPDATE_AND_REPLY",
    "STATUS_DIGEST",
    "STATUS_FIRING",
    "STATUS_RESOLVED",
    "ActionState",
    "DeliveryAction",
    "DeliveryState",
    "DestinationPace",
    "DestinationPause",
    "KnownChannel",
    "MetricsCount",
    "MetricsOpenDelivery",
    "MetricsTally",
    "NoticeState",
    "ResolveAction",
    "RuleChange",
    "RuleSetVersion",
    "SlackAction",
    "SlackDelivery",
    "SlackIntegrationRule",
    "SlackIntegrationRuleQuerySet",
    "SlackUserLink",
    "note_change",
    "rules_changed",
]
