"""The rule form (django-crispy-forms, Bootstrap 5 template pack)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crispy_forms.layout import (  # type: ignore[import-untyped]
    HTML,
    Column,
    Div,
    Layout,
    Row,
)
from django import forms
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..conf import slack_rules_settings
from ..matching.compiled import criteria_matchers
from ..matching.explain import Verdict
from ..matching.explain import regex_warnings as failing_regexes
from ..matching.labels import normalize_labels
from ..matching.matchers import CriteriaError
from ..models import RESOLVE_POST, SlackIntegrationRule
from .actions import action_choices, actions_help, clean_actions
from .fields import CriteriaField, JSONObjectField, form_helper


def _card(title: object, *fields: object) -> Div:
    return Div(
        HTML(format_html('<div class="card-header fw-semibold">{}</div>', title)),
        Div(*fields, css_class="card-body"),
        css_class="card mb-3",
    )


def gateway_help() -> str:
    if slack_rules_settings.BOT_MODE:
        return gettext(
            'The gateway is in bot mode (SLACK_RULES["GATEWAY_MODE"] = "bot"): a rule can '
            "reply in the firing message's thread and update it."
        )
    return gettext(
        'The gateway is in webhook mode (SLACK_RULES["GATEWAY_MODE"] = "webhook"): every '
        "notification is a new message. Thread replies and updates need bot mode."
    )


def webhook_mode_error() -> str:
    return gettext(
        'The gateway is in webhook mode (SLACK_RULES["GATEWAY_MODE"] = "webhook"), and '
        "incoming webhooks cannot reply in a thread or update a message. Choose “post a new "
        'message”, or switch the gateway to bot mode (a bot token; SLACK_RULES["GATEWAY_MODE"] '
        '= "bot"; see docs/gateway.md).'
    )


class SlackIntegrationRuleForm(forms.ModelForm):
    #: Regex matchers of the criteria that the sample labels fail (a warning, not an error).
    regex_warnings: list[Verdict]

    match_criteria = CriteriaField(
        label=_("Match criteria"),
        error_messages={"required": _("Use {} to match every alert.")},
        help_text=_(
            'A JSON object of label → value, e.g. {"severity": "critical", "team": "db"} '
            "(every label present with its value; {} matches every alert), or Alertmanager "
            'matchers, one a line: severity=~"critical|page", team!="db", env="prod" (all '
            "must match; a missing label counts as empty; regexes match the whole value)."
        ),
        widget=forms.Textarea(attrs={"rows": 4, "class": "font-monospace", "spellcheck": "false"}),
    )
    actions = forms.MultipleChoiceField(
        label=_("Buttons on the firing message"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    sample_labels = JSONObjectField(
        label=_("Sample labels"),
        what=_("Sample labels"),
        required=False,
        help_text=_(
            "Optional, not saved: an alert's labels, as a JSON object. The form warns when a "
            "regex of the criteria does not match them, and Save and preview uses them."
        ),
        widget=forms.Textarea(attrs={"rows": 2, "class": "font-monospace", "spellcheck": "false"}),
    )

    class Meta:
        model = SlackIntegrationRule
        fields = (
            "name",
            "description",
            "is_active",
            "priority",
            "match_criteria",
            "continue_matching",
            "slack_channel",
            "digest_opt_out",
            "message_template",
            "resolved_message_template",
            "blocks_template",
            "resolve_action",
            "reply_broadcast",
            "refire_in_thread",
            "actions",
        )
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "message_template": forms.Textarea(attrs={"rows": 4, "class": "font-monospace"}),
            "resolved_message_template": forms.Textarea(
                attrs={"rows": 3, "class": "font-monospace"}
            ),
            "blocks_template": forms.Textarea(attrs={"rows": 8, "class": "font-monospace"}),
        }

    # Any: ModelForm's own arguments (data, files, instance...), passed on as they are.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.regex_warnings = []
        if not self.is_bound and self.instance.pk is None:
            self.initial.setdefault("match_criteria", {})
        # Left out of a POST (a form of an older version, a script): a new message.
        self.fields["resolve_action"].required = False
        self.fields["actions"].choices = action_choices()  # type: ignore[attr-defined]
        self.fields["actions"].help_text = actions_help()
        self.helper = form_helper()
        self.helper.layout = Layout(
            _card(
                _("Rule"),
                Row(Column("name", css_class="col-md-8"), Column("priority", css_class="col-md-4")),
                "description",
                "is_active",
            ),
            _card(
                _("Matching"),
                HTML('{% include "django_slack_rules/_criteria_editor.html" %}'),
                "match_criteria",
                "continue_matching",
                "sample_labels",
                HTML('{% include "django_slack_rules/_regex_warnings.html" %}'),
            ),
            _card(
                _("Slack message"),
                "slack_channel",
                "digest_opt_out",
                "message_template",
                "resolved_message_template",
                "blocks_template",
            ),
            _card(
                _("Threads and updates"),
                HTML(format_html('<p class="small text-body-secondary">{}</p>', gateway_help())),
                "resolve_action",
                "reply_broadcast",
                "refire_in_thread",
            ),
            _card(_("Buttons in Slack"), "actions"),
        )

    def clean_resolve_action(self) -> str:
        return str(self.cleaned_data.get("resolve_action") or RESOLVE_POST)

    def clean_actions(self) -> list[str]:
        return clean_actions(self.cleaned_data.get("actions") or [], self.instance.actions or [])

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or self.cleaned_data
        self._check_gateway_mode(cleaned)
        # The Block Kit template is checked by the model (SlackIntegrationRule.clean()), so the
        # admin, the import commands and full_clean() refuse it with the same message.
        self.regex_warnings = []
        sample = cleaned.get("sample_labels")
        if isinstance(sample, Mapping) and sample and cleaned.get("match_criteria") is not None:
            try:
                matchers = criteria_matchers(cleaned["match_criteria"])
            except CriteriaError:
                return cleaned  # the model's validation names the matcher
            self.regex_warnings = failing_regexes(matchers, normalize_labels(sample))
        return cleaned

    def _check_gateway_mode(self, cleaned: dict[str, object]) -> None:
        """Webhook mode cannot reply in a thread or update: a rule asking for it is refused
        (one saved in bot mode before a switch keeps working, posting new messages, and
        ``check --database default`` lists it: W005)."""
        if slack_rules_settings.BOT_MODE:
            return
        action = cleaned.get("resolve_action")
        if action and action != RESOLVE_POST and "resolve_action" in self.changed_data:
            self.add_error("resolve_action", webhook_mode_error())
        if cleaned.get("refire_in_thread") and "refire_in_thread" in self.changed_data:
            self.add_error("refire_in_thread", webhook_mode_error())

    def save(self, commit: bool = True) -> SlackIntegrationRule:
        """Save; an edit only ever updates, so a rule deleted meanwhile is not re-created
        (Django's DatabaseError "Forced update did not affect any rows" instead)."""
        if not commit or self.instance._state.adding:
            return super().save(commit)
        rule = super().save(commit=False)
        rule.save(force_update=True)
        self._save_m2m()  # type: ignore[attr-defined]
        return rule
