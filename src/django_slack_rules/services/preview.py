"""Previewing a rule's message against a sample alert, exactly as the task would render it."""

from __future__ import annotations

import datetime
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils.translation import gettext

from ..adapters import CONTEXT_KEYS, get_adapter
from ..conf import slack_rules_settings
from ..matching.explain import Verdict, explain_criteria
from ..matching.labels import normalize_labels
from ..models import (
    RESOLVE_POST,
    RESOLVE_REPLY,
    RESOLVE_UPDATE,
    RESOLVE_UPDATE_AND_REPLY,
    STATUS_RESOLVED,
    SlackIntegrationRule,
)
from ..rendering.blocks import blocks_for_message
from ..rendering.samples import sample_context
from ..rendering.templates import (
    STRAY_MARKERS,
    TRUNCATION_MARKER,
    empty_variables,
    fallback_message,
    render_template,
    stray_markup,
    undefined_variables,
)
from ..typing import JSONObject, JSONValue, RawLabels, TemplateContext
from .actions.offer import preview_actions
from .slack_matcher import SlackRuleMatcherService
from .slack_service import prepare_message


@dataclass
class Preview:
    """A rule's message for a sample alert: what Slack would get, and where it would go."""

    rule: SlackIntegrationRule
    status: str
    labels: dict[str, str]
    channel: str
    template: str
    text: str = ""
    render_error: str = ""
    context: TemplateContext = field(default_factory=dict)
    #: The rule's matchers that the sample's labels fail.
    mismatches: list[Verdict] = field(default_factory=list)
    #: The active rules that get this sample, best first (several with continue_matching).
    selected: list[SlackIntegrationRule] = field(default_factory=list)
    #: Each of them with the channel it would post this sample to.
    routes: list[tuple[SlackIntegrationRule, str]] = field(default_factory=list)
    #: Variables the template prints that this sample's context lacks, each with the
    #: context keys whose names are close: [("labels.sevrity", ["labels.severity"])].
    undefined: list[tuple[str, list[str]]] = field(default_factory=list)
    #: Variables the template prints that are empty for this sample (an absent label).
    empty_variables: list[str] = field(default_factory=list)
    #: Lines of the template with ``{{``, ``}}`` or ``{%`` that were sent as plain text.
    stray: list[str] = field(default_factory=list)
    #: The Block Kit blocks sent with the text (None: text only), and why there are none.
    blocks: list[JSONValue] | None = None
    blocks_note: str = ""
    #: Why a button the rule chose is not on this message (webhook mode, the adapter…).
    action_notes: list[str] = field(default_factory=list)
    #: What goes to Slack: (method, payload) per call, e.g. ("chat.postMessage", {...}).
    calls: list[tuple[str, JSONObject]] = field(default_factory=list)

    @property
    def sends(self) -> bool:
        """False when the rule has no template for this status (nothing would be sent)."""
        return bool(self.template.strip())

    @property
    def empty(self) -> bool:
        """True when the template renders to nothing: Slack would refuse it (``no_text``)."""
        return self.sends and not self.text.strip()

    @property
    def truncated(self) -> bool:
        return self.text.endswith(TRUNCATION_MARKER)

    @property
    def payload_json(self) -> str:
        """The exact payload of each call, as JSON (placeholders for the firing message's
        ts and channel id, which exist only once it is sent)."""
        return "\n\n".join(
            f"// {method}\n{json.dumps(payload, indent=2, ensure_ascii=False)}"
            for method, payload in self.calls
        )

    @property
    def winner(self) -> SlackIntegrationRule | None:
        """The rule that gets the sample first."""
        return self.selected[0] if self.selected else None

    @property
    def wins(self) -> bool:
        return self.winner is not None and self.winner.pk == self.rule.pk

    @property
    def gets_alert(self) -> bool:
        """Whether this rule is among the rules that get the sample."""
        return any(rule.pk == self.rule.pk for rule in self.selected)

    @property
    def fan_out(self) -> bool:
        """Whether the sample goes to several rules."""
        return len(self.selected) > 1


def context_names(context: Mapping[str, object]) -> list[str]:
    """The names a template can print: the context keys, and the sample's labels and annotations."""
    names = list(CONTEXT_KEYS)
    for key in ("labels", "annotations"):
        values = context.get(key)
        names.extend(f"{key}.{sub}" for sub in (values if isinstance(values, Mapping) else {}))
    return names


def close_names(name: str, context: Mapping[str, object]) -> list[str]:
    """Names in ``context`` close to ``name``, best first: ``labels.sevrity`` → ``labels.severity``."""
    return difflib.get_close_matches(name, context_names(context), n=3, cutoff=0.75)


def preview_message(
    rule: SlackIntegrationRule,
    labels: RawLabels,
    annotations: RawLabels,
    status: str,
    *,
    now: datetime.datetime | None = None,
) -> Preview:
    """Render ``rule``'s template for a sample alert; nothing is sent or recorded.

    The text is what Slack would get: alert values escaped, the rule's fallback message
    if the template fails at render time, and cut to the configured length.
    """
    plain_labels = normalize_labels(labels)
    preview = Preview(
        rule=rule,
        status=status,
        labels=plain_labels,
        channel=rule.resolve_channel(plain_labels, default=slack_rules_settings.DEFAULT_CHANNEL),
        template=rule.template_for(status),
        mismatches=explain_criteria(rule.match_criteria, plain_labels, failing_only=True),
        selected=SlackRuleMatcherService().find_matching_rules(plain_labels),
    )
    default = slack_rules_settings.DEFAULT_CHANNEL
    preview.routes = [
        (chosen, chosen.resolve_channel(plain_labels, default=default))
        for chosen in preview.selected
    ]
    if not preview.sends:
        return preview
    preview.context = sample_context(rule, plain_labels, annotations, status, now=now)
    try:
        text = render_template(preview.template, preview.context)
    except Exception as exc:  # the task sends the fallback message then; so does the preview
        preview.render_error = f"{type(exc).__name__}: {exc}"
        text = fallback_message(preview.context)
    preview.text = prepare_message(text)
    preview.blocks, preview.blocks_note = blocks_for_message(rule.blocks_template, preview.context)
    # The buttons a real message of this sample carries, as the task adds them.
    preview.blocks, preview.action_notes = preview_actions(
        rule, get_adapter(), preview.text, preview.blocks, status, plain_labels
    )
    preview.calls = slack_calls(rule, status, preview.channel, preview.text, preview.blocks)
    if not preview.render_error:
        preview.undefined = [
            (name, close_names(name, preview.context))
            for name in undefined_variables(preview.template, preview.context)
        ]
        preview.empty_variables = [
            name
            for name in empty_variables(preview.template, preview.context)
            if name not in dict(preview.undefined)
        ]
        preview.stray = [
            line
            for line in stray_markup(preview.template)
            if any(marker in line and marker in preview.text for marker in STRAY_MARKERS)
        ]
    return preview


def slack_calls(
    rule: SlackIntegrationRule,
    status: str,
    channel: str,
    text: str,
    blocks: list[JSONValue] | None,
) -> list[tuple[str, JSONObject]]:
    """The calls a notification makes, with their payloads, as the gateway gets them.

    A resolution's thread reply or update refers to the firing message, whose ts and
    channel id Slack gives only when it is sent: shown as placeholders.
    """
    payload: JSONObject = {"channel": channel, "text": text}
    if blocks:
        payload["blocks"] = blocks
    if not slack_rules_settings.BOT_MODE:
        return [(gettext("incoming webhook"), payload)]
    if status != STATUS_RESOLVED or rule.resolve_action == RESOLVE_POST:
        return [("chat.postMessage", payload)]
    firing_channel = gettext("<the firing message's channel id>")
    firing_ts = gettext("<the firing message's ts>")
    calls = []
    if rule.resolve_action in (RESOLVE_REPLY, RESOLVE_UPDATE_AND_REPLY):
        reply = {**payload, "channel": firing_channel, "thread_ts": firing_ts}
        if rule.reply_broadcast:
            reply["reply_broadcast"] = True
        calls.append(("chat.postMessage", reply))
    if rule.resolve_action in (RESOLVE_UPDATE, RESOLVE_UPDATE_AND_REPLY):
        update: JSONObject = {
            "channel": firing_channel,
            "ts": firing_ts,
            "text": text,
            "blocks": blocks or [],
        }
        calls.append(("chat.update", update))
    return calls
