"""The rule pages. Include them with ``path("slack/", include("django_slack_rules.urls"))``."""

from __future__ import annotations

from django.urls import path

from . import views
from .views.metrics import metrics_view

app_name = "django_slack_rules"

urlpatterns = [
    path("", views.RuleListView.as_view(), name="rule-list"),
    path("rules/new/", views.RuleCreateView.as_view(), name="rule-create"),
    path("rules/<int:pk>/", views.RuleUpdateView.as_view(), name="rule-update"),
    path("rules/<int:pk>/delete/", views.RuleDeleteView.as_view(), name="rule-delete"),
    path("rules/<int:pk>/preview/", views.RulePreviewView.as_view(), name="rule-preview"),
    path("match/", views.MatchTesterView.as_view(), name="rule-match"),
    path("deliveries/", views.DeliveryListView.as_view(), name="delivery-list"),
    path("deliveries/resend/", views.DeliveryResendView.as_view(), name="delivery-resend"),
    # Prometheus metrics: off unless SLACK_RULES["METRICS"]["ENABLED"] (docs/metrics.md).
    path("metrics/", metrics_view, name="metrics"),
    # The Slack app's Request URL (interactivity): a click on a message's button.
    path("actions/", views.SlackActionsView.as_view(), name="slack-actions"),
]
