"""The rule pages, one module per page family, and the Slack app's Request URL (``actions``).

Every page needs a logged-in user with the model permission it names (anonymous users
are sent to ``LOGIN_URL``; others get 403) and renders inside
``SLACK_RULES["BASE_TEMPLATE"]`` through ``django_slack_rules/page.html``.
"""

from .actions import SlackActionsView
from .deliveries import DeliveryListView, DeliveryResendView
from .match import MatchTesterView
from .preview import RulePreviewView
from .rules import RuleCreateView, RuleDeleteView, RuleListView, RuleUpdateView

__all__ = [
    "DeliveryListView",
    "DeliveryResendView",
    "MatchTesterView",
    "RuleCreateView",
    "RuleDeleteView",
    "RuleListView",
    "RulePreviewView",
    "RuleUpdateView",
    "SlackActionsView",
]
