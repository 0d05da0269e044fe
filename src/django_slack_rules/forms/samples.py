"""The forms of the preview, the match tester and the delivery log's filters."""

from __future__ import annotations

from typing import Any

from crispy_forms.helper import FormHelper  # type: ignore[import-untyped]
from django import forms
from django.db.models import Q
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from ..models import (
    STATUS_FIRING,
    STATUS_RESOLVED,
    DeliveryState,
    SlackDelivery,
    SlackIntegrationRule,
)
from .fields import JSONObjectField, form_helper


class _LabelsMixin:
    def clean_labels(self) -> dict[str, object]:
        return self.cleaned_data["labels"] or {}  # type: ignore[attr-defined]


class SampleAlertForm(_LabelsMixin, forms.Form):
    """A sample alert for the preview: labels, annotations and status."""

    labels = JSONObjectField(
        label=_("Labels"),
        what=_("Labels"),
        required=False,
        help_text=_("The alert's labels as a JSON object."),
        widget=forms.Textarea(attrs={"rows": 6, "class": "font-monospace"}),
    )
    annotations = JSONObjectField(
        label=_("Annotations"),
        what=_("Annotations"),
        required=False,
        help_text=_("The latest occurrence's annotations (summary, description, …)."),
        widget=forms.Textarea(attrs={"rows": 4, "class": "font-monospace"}),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[(STATUS_FIRING, _("firing")), (STATUS_RESOLVED, _("resolved"))],
        initial=STATUS_FIRING,
        widget=forms.RadioSelect,
    )

    @cached_property
    def helper(self) -> FormHelper:
        return form_helper()


class MatchTesterForm(_LabelsMixin, forms.Form):
    labels = JSONObjectField(
        label=_("Alert labels"),
        what=_("Labels"),
        required=False,
        help_text=_('Paste an alert\'s labels, e.g. {"alertname": "HighCPU", "team": "db"}.'),
        widget=forms.Textarea(attrs={"rows": 6, "class": "font-monospace"}),
    )

    @cached_property
    def helper(self) -> FormHelper:
        helper = form_helper()
        # A GET form (a shareable URL): no CSRF token, which would land in the URL, the
        # browser history and access logs.
        helper.form_method = "get"
        return helper


class DeliveryFilterForm(forms.Form):
    """The delivery log's filters. Each field that is valid filters on its own.

    The rule select lists only the rules that have deliveries (plus the one asked for),
    so a site with thousands of rules does not get thousands of options; ``rule_name``
    finds deliveries by the name they were recorded with, also of a deleted rule.
    """

    FIELDS = ("state", "rule", "rule_name", "channel", "alert", "digest")

    state = forms.ChoiceField(
        label=_("State"), required=False, choices=[("", _("any state")), *DeliveryState.choices]
    )
    rule = forms.ModelChoiceField(
        label=_("Rule"),
        required=False,
        queryset=SlackIntegrationRule.objects.none(),
        empty_label=_("any rule"),
    )
    rule_name = forms.CharField(label=_("Rule name"), required=False, max_length=255)
    channel = forms.CharField(label=_("Channel"), required=False, max_length=80)
    #: The messages of one alert (the link from a fan-out in the log).
    alert = forms.CharField(
        label=_("Alert"), required=False, max_length=64, widget=forms.HiddenInput
    )
    #: A digest and the deliveries it folded (the link in a digest's message).
    digest = forms.IntegerField(
        label=_("Digest"), required=False, min_value=1, widget=forms.HiddenInput
    )

    # Any: Form's own arguments (data, initial...), passed on as they are.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        delivered = SlackDelivery.objects.filter(rule__isnull=False).values("rule")
        offered = Q(pk__in=delivered)
        asked = str(self.data.get("rule") or "") if self.is_bound else ""
        if asked.isdigit():
            offered |= Q(pk=int(asked))
        rule_field = self.fields["rule"]
        assert isinstance(rule_field, forms.ModelChoiceField)
        rule_field.queryset = SlackIntegrationRule.objects.filter(offered).order_by("name")
        self.fields["rule_name"].widget.attrs.update(
            placeholder=_("name or part of it"), **{"class": "form-control"}
        )
        self.fields["channel"].widget.attrs.update(
            placeholder="#alerts", **{"class": "form-control"}
        )
        for name in ("state", "rule"):
            self.fields[name].widget.attrs["class"] = "form-select"
        if self.is_bound:
            for name in self.errors:
                widget = self.fields[name].widget
                widget.attrs["class"] += " is-invalid"
                widget.attrs["aria-describedby"] = f"{self[name].auto_id}_error"

    def valid_filters(self) -> dict[str, object]:
        """The values of the fields that are valid, even if another one is not."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value}
