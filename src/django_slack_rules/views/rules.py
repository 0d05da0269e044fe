"""The rule pages: list, create, edit, delete."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.messages.views import SuccessMessageMixin
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse, reverse_lazy
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import CreateView, DeleteView, ListView, UpdateView

from ..adapters import CONTEXT_KEYS
from ..forms import SlackIntegrationRuleForm
from ..models import SlackIntegrationRule
from ..rendering.templates import stray_markup
from .base import (
    ADD_RULE,
    APP,
    CHANGE_RULE,
    DELETE_RULE,
    VIEW_RULE,
    ClampedPaginationMixin,
    RuleStillThereMixin,
    SlackRulesPageMixin,
    get_ordering_key,
    sort_directions,
)

#: The warning after saving a template with syntax Django sends as typed.
STRAY_MESSAGE = "django_slack_rules/_stray_markup_message.html"
#: The warning after saving criteria whose regexes do not match the form's sample labels.
REGEX_MESSAGE = "django_slack_rules/_regex_warning_message.html"

RULE_ORDERINGS: dict[str, tuple[str, ...]] = {
    "priority": ("-priority", "name"),
    "-priority": ("priority", "-name"),
    "name": ("name",),
    "-name": ("-name",),
    "channel": ("slack_channel", "name"),
    "-channel": ("-slack_channel", "name"),
    "updated": ("updated_at", "name"),
    "-updated": ("-updated_at", "name"),
}


class RuleListView(ClampedPaginationMixin, SlackRulesPageMixin, ListView):
    model = SlackIntegrationRule
    permission_required = VIEW_RULE
    paginate_by = 25
    page_title = _("Slack rules")

    def get_queryset(self) -> QuerySet[SlackIntegrationRule]:
        ordering = RULE_ORDERINGS[get_ordering_key(self.request, RULE_ORDERINGS, "priority")]
        return SlackIntegrationRule.objects.order_by(*ordering).with_last_delivery()

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        context = super().get_context_data(**kwargs)
        context["ordering"] = get_ordering_key(self.request, RULE_ORDERINGS, "priority")
        context["sort_directions"] = sort_directions(RULE_ORDERINGS)
        return context


class RuleFormMixin(SuccessMessageMixin, SlackRulesPageMixin):
    model = SlackIntegrationRule

    def get_success_url(self) -> str:
        obj = self.object  # type: ignore[attr-defined]
        if "_preview" in self.request.POST:
            target = reverse(f"{APP}:rule-preview", args=[obj.pk])
            sample = self.sample_labels
            if sample:  # the form's sample labels become the preview's sample
                labels = json.dumps(sample, ensure_ascii=False, separators=(",", ":"))
                target += "?" + urlencode({"labels": labels})
            return target
        return reverse(f"{APP}:rule-list")

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        context = super().get_context_data(**kwargs)
        context["context_keys"] = CONTEXT_KEYS
        return context

    def form_valid(self, form: ModelForm[SlackIntegrationRule]) -> HttpResponse:
        self.sample_labels = form.cleaned_data.get("sample_labels") or {}
        self.saved_warnings = self.warnings_after_saving(form)
        response = super().form_valid(form)
        for warning in self.saved_warnings:
            messages.warning(self.request, warning)
        return response

    def warnings_after_saving(self, form: ModelForm[SlackIntegrationRule]) -> list[str]:
        """What to say about a rule saved as asked that may not do what was meant."""
        warnings: list[str] = []
        verdicts = getattr(form, "regex_warnings", [])
        if verdicts:
            warnings.append(render_to_string(REGEX_MESSAGE, {"warnings": verdicts}))
        # Not an error: Django sends "{{ alertname }" as typed. Said once, after saving.
        for name in ("message_template", "resolved_message_template"):
            stray = stray_markup(form.cleaned_data.get(name) or "")
            if stray:
                context = {"field": form.fields[name].label, "lines": stray}
                warnings.append(render_to_string(STRAY_MESSAGE, context))
        return warnings

    def get_success_message(self, cleaned_data: dict[str, str]) -> str:
        # Saved with a warning is not a plain success: the warnings (each starting "Saved,
        # but") are the only message, so nothing on the page looks like all went well.
        if self.saved_warnings:
            return ""
        return str(super().get_success_message(cleaned_data))


class RuleCreateView(RuleFormMixin, CreateView):
    form_class = SlackIntegrationRuleForm
    permission_required = ADD_RULE
    page_title = _("New Slack rule")
    success_message = _("Rule “%(name)s” created.")


class RuleUpdateView(RuleStillThereMixin, RuleFormMixin, UpdateView):
    form_class = SlackIntegrationRuleForm
    permission_required = CHANGE_RULE
    page_title = _("Edit Slack rule")
    success_message = _("Rule “%(name)s” saved.")

    def form_valid(self, form: ModelForm[SlackIntegrationRule]) -> HttpResponse:
        try:
            with transaction.atomic():  # a savepoint under ATOMIC_REQUESTS
                return super().form_valid(form)
        except DatabaseError:
            # Deleted after the check in post(): the form only updates, so nothing is re-created.
            if SlackIntegrationRule.objects.filter(pk=self.kwargs["pk"]).exists():
                raise
            return self.rule_gone(self.request)


class RuleDeleteView(RuleStillThereMixin, SuccessMessageMixin, SlackRulesPageMixin, DeleteView):
    model = SlackIntegrationRule
    permission_required = DELETE_RULE
    page_title = _("Delete Slack rule")
    success_url = reverse_lazy(f"{APP}:rule-list")

    def get_success_message(self, cleaned_data: dict[str, str]) -> str:
        return gettext("Rule “%(name)s” deleted.") % {"name": self.object.name}

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        context = super().get_context_data(**kwargs)
        context["delivery_count"] = self.object.deliveries.count()
        return context
