"""Forms of the rule pages (django-crispy-forms, Bootstrap 5 template pack)."""

from .fields import TEMPLATE_PACK, CriteriaField, JSONObjectField, describe_json_error
from .rules import SlackIntegrationRuleForm, webhook_mode_error
from .samples import DeliveryFilterForm, MatchTesterForm, SampleAlertForm

__all__ = [
    "TEMPLATE_PACK",
    "CriteriaField",
    "DeliveryFilterForm",
    "JSONObjectField",
    "MatchTesterForm",
    "SampleAlertForm",
    "SlackIntegrationRuleForm",
    "describe_json_error",
    "webhook_mode_error",
]
