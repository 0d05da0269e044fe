"""The match tester: paste labels, see which rules get the alert and why the others do not."""

from __future__ import annotations

import json
from collections.abc import Mapping

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView

from ..conf import slack_rules_settings
from ..forms import MatchTesterForm
from ..services.slack_matcher import SlackRuleMatcherService
from .base import VIEW_RULE, SlackRulesPageMixin


class MatchTesterView(SlackRulesPageMixin, FormView):
    """Paste labels: which active rules get the alert, the candidates in order, and why the
    others do not, matcher by matcher."""

    form_class = MatchTesterForm
    permission_required = VIEW_RULE
    template_name = "django_slack_rules/match_tester.html"
    page_title = _("Match tester")
    section = "match"
    #: How many of the rules that do not match are listed, with their reasons.
    others_shown = 50

    def get_form_kwargs(self) -> dict[str, object]:
        kwargs = super().get_form_kwargs()
        if "labels" in self.request.GET:
            kwargs["data"] = self.request.GET
        return kwargs

    def get(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        form = self.get_form()
        context = self.get_context_data(form=form)
        if form.is_bound and form.is_valid():
            context.update(self.explain(form.cleaned_data["labels"]))
        return self.render_to_response(context)

    def explain(self, labels: Mapping[str, object]) -> dict[str, object]:
        report = SlackRuleMatcherService().report(labels, others_limit=self.others_shown)
        winner = report.winner
        default = slack_rules_settings.DEFAULT_CHANNEL
        return {
            "tested": True,
            "labels_json": json.dumps(report.labels, ensure_ascii=False),
            "winner": winner,
            "winner_channel": winner.resolve_channel(report.labels, default=default)
            if winner
            else "",
            "selected": report.selected,
            "selected_pks": [rule.pk for rule in report.selected],
            "routes": [
                (rule, rule.resolve_channel(report.labels, default=default))
                for rule in report.selected
            ],
            "last_selected": report.selected[-1] if report.selected else None,
            "candidates": report.candidates,
            "others": report.others,
            "others_total": report.others_total,
            "others_more": report.others_total - len(report.others),
            "skipped": report.skipped,
        }
