"""The preview of a rule's message for a sample alert, and "Test send"."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView

from ..backends import get_backend
from ..conf import slack_rules_settings
from ..forms import SampleAlertForm
from ..models import STATUS_FIRING, STATUS_RESOLVED, SlackIntegrationRule
from ..rendering.samples import SAMPLE_ANNOTATIONS, sample_labels
from ..services.preview import preview_message
from ..services.test_send import send_test_message
from .base import APP, CHANGE_RULE, VIEW_RULE, RuleStillThereMixin, SlackRulesPageMixin

#: The message that reports a test send (sent, or which hop refused it, with a hint).
OUTCOME_MESSAGE = "django_slack_rules/_test_send_message.html"


def _endpoint_target() -> str:
    """Where the configured backend sends, for display: host:port only, never the URL."""
    try:
        backend = get_backend()
    except ImproperlyConfigured as exc:
        return gettext("not configured: %(problem)s") % {"problem": exc}
    target = getattr(backend, "target", "")
    name = type(backend).__name__
    return f"{name} → {target}" if target else name


def _json_query(value: str | None) -> dict[str, object] | None:
    """A JSON object from the query string, or None."""
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class RulePreviewView(RuleStillThereMixin, SlackRulesPageMixin, FormView):
    """Render a rule's message for a sample alert; "Test send" sends it to the rule's channel.

    A test send redirects (POST/redirect/GET) to the preview of the same sample, with the
    outcome as a message, so reloading the page does not send again.
    """

    form_class = SampleAlertForm
    permission_required = VIEW_RULE
    template_name = "django_slack_rules/slackintegrationrule_preview.html"
    page_title = _("Preview")

    def setup(self, request: HttpRequest, *args: object, **kwargs: object) -> None:
        super().setup(request, *args, **kwargs)
        self.object: SlackIntegrationRule | None = None

    def get_rule(self) -> SlackIntegrationRule:
        if self.object is None:
            self.object = get_object_or_404(SlackIntegrationRule, pk=self.kwargs["pk"])
        return self.object

    def get_initial(self) -> dict[str, object]:
        # The sample comes from the query string when there is one (the match tester's
        # link, the redirect after a test send), else it is one the rule matches.
        query = self.request.GET
        labels = _json_query(query.get("labels"))
        annotations = _json_query(query.get("annotations"))
        status = query.get("status")
        return {
            "labels": sample_labels(self.get_rule()) if labels is None else labels,
            "annotations": SAMPLE_ANNOTATIONS if annotations is None else annotations,
            "status": status if status in (STATUS_FIRING, STATUS_RESOLVED) else STATUS_FIRING,
        }

    def get(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        # Bound to the sample, so the page opens with its preview already rendered.
        initial = self.get_initial()
        data = {
            "labels": json.dumps(initial["labels"], indent=2, ensure_ascii=False),
            "annotations": json.dumps(initial["annotations"], indent=2, ensure_ascii=False),
            "status": initial["status"],
        }
        form = self.get_form_class()(data=data)
        return self.render_to_response(self.get_context_data(form=form))

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if "send" in request.POST and not request.user.has_perm(CHANGE_RULE):
            raise PermissionDenied("Test send needs the permission to change the rule.")
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: SampleAlertForm) -> HttpResponse:
        if "send" not in self.request.POST:
            return self.render_to_response(self.get_context_data(form=form))
        rule = self.get_rule()
        data = form.cleaned_data
        annotations = data["annotations"] or {}
        preview = preview_message(rule, data["labels"], annotations, data["status"])
        if preview.sends:
            outcome = send_test_message(rule, preview.channel, preview.text, preview.blocks)
            log_url = reverse(f"{APP}:delivery-list") + "?" + urlencode({"rule": rule.pk})
            text = render_to_string(OUTCOME_MESSAGE, {"outcome": outcome, "log_url": log_url})
            level = messages.SUCCESS if outcome.sent else messages.ERROR
            messages.add_message(self.request, level, text, extra_tags="dsr-outcome")
        else:
            messages.warning(
                self.request,
                gettext("Nothing sent: the rule has no template for %(status)s alerts.")
                % {"status": preview.status},
                extra_tags="dsr-outcome",
            )
        sample = {
            "labels": json.dumps(data["labels"], ensure_ascii=False, separators=(",", ":")),
            "annotations": json.dumps(annotations, ensure_ascii=False, separators=(",", ":")),
            "status": data["status"],
        }
        target = reverse(f"{APP}:rule-preview", args=[rule.pk]) + "?" + urlencode(sample)
        return HttpResponseRedirect(target)

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        context = super().get_context_data(**kwargs)
        rule = self.get_rule()
        form = context["form"]
        context["rule"] = context["object"] = rule
        context["page_title"] = gettext("Preview: %(name)s") % {"name": rule.name}
        if isinstance(form, SampleAlertForm) and form.is_bound and form.is_valid():
            context["preview"] = preview = preview_message(
                rule,
                form.cleaned_data["labels"],
                form.cleaned_data["annotations"] or {},
                form.cleaned_data["status"],
            )
            context["context_json"] = json.dumps(
                preview.context, indent=2, default=str, ensure_ascii=False
            )
        context["backend_target"] = _endpoint_target()
        context["bot_mode"] = slack_rules_settings.BOT_MODE
        return context
