"""A rule's message for an alert, as the delivery row that will carry it to Slack.

:func:`build_delivery` renders the rule's template (and its Block Kit template) against the
alert's plain, Slack-escaped context, picks the channel, and for a thread reply or an update
points the row at the conversation's first message. The row holds everything the worker
sends, so the worker never reads the alert or the rule again.
"""

from __future__ import annotations

import logging
from typing import TypedDict

from ..adapters import NOT_LOADED, BaseAlertAdapter, MaybeLoaded, alert_id
from ..conf import slack_rules_settings
from ..models import STATUS_FIRING, SlackDelivery, SlackIntegrationRule
from ..models.rules import channel_from_label
from ..rendering.blocks import blocks_for_message
from ..rendering.templates import fallback_message, render_template, to_plain_data, unescape_slack
from ..typing import HostAlert, JSONValue, TemplateContext
from . import conversation
from .actions.offer import with_actions

logger = logging.getLogger(__name__)


class _InConversation(TypedDict, total=False):
    """A reply's or an update's fields: what it does, and the first message it follows."""

    action: str
    parent: SlackDelivery | None


def build_delivery(
    adapter: BaseAlertAdapter[HostAlert],
    alert: HostAlert,
    rule: SlackIntegrationRule,
    status: str,
    occurrence: str,
    *,
    instance: MaybeLoaded = NOT_LOADED,
) -> SlackDelivery:
    """The rule's message for the alert as an unsaved, pending delivery.

    ``instance``: the occurrence the host passed (None: the adapter finds the latest);
    ``NOT_LOADED``: read it by ``occurrence``. The caller has checked that the rule has a
    template for ``status``.
    """
    fingerprint = adapter.get_fingerprint(alert)
    key = alert_id(alert)
    text, blocks, notes, context = _render(adapter, alert, rule, status, occurrence, instance)
    labels = adapter.get_labels(alert)
    channel = rule.resolve_channel(labels, default=slack_rules_settings.DEFAULT_CHANNEL)
    if not rule.slack_channel and labels.get("channel") and not channel_from_label(labels):
        notes.append(
            f"The alert's channel label {labels['channel'][:100]!r} is not a Slack channel "
            f"('#name' or an id, at most 80 characters); sent to {channel} instead."
        )
    fields: _InConversation = {}
    if rule.in_conversation(status):
        parent = conversation.find_parent(rule, key, status, occurrence)
        if parent is not None or status != STATUS_FIRING:
            # A reply or an update goes where the first message went; without a first
            # message, a resolution is posted, and the record says why.
            fields = {"action": conversation.intended_action(rule, status), "parent": parent}
            channel = parent.channel if parent is not None else channel
    return SlackDelivery(
        idempotency_key=SlackDelivery.make_key(rule.pk, key, status, occurrence),
        rule=rule,
        rule_name=rule.name,
        alert_id=str(key),
        fingerprint=fingerprint[:255],
        alertname=unescape_slack(str(context.get("alertname") or ""))[:255],
        severity=unescape_slack(str(context.get("severity") or ""))[:64],
        alert_status=status,
        occurrence=str(occurrence)[:255],
        channel=channel,
        text=text,
        blocks=blocks,
        note=" ".join(notes),
        **fields,
    )


def _render(
    adapter: BaseAlertAdapter[HostAlert],
    alert: HostAlert,
    rule: SlackIntegrationRule,
    status: str,
    occurrence: str,
    instance: MaybeLoaded,
) -> tuple[str, list[JSONValue] | None, list[str], TemplateContext]:
    """The rule's text for the alert, its Block Kit blocks (None without a blocks template,
    or when they fail), notes saying why blocks failed, and the context it rendered with.

    A template or an adapter that fails gives a plain fallback message (escaped like any
    other), so the alert is still notified."""
    fingerprint = adapter.get_fingerprint(alert)
    # Escaped, as the adapter's context is: the fallback quotes it.
    plain = to_plain_data(
        {
            "alertname": str(getattr(alert, "name", "") or ""),
            "status": status,
            "fingerprint": fingerprint,
        }
    )
    context: TemplateContext = {**plain, "rule": {"name": rule.name}}
    try:
        if instance is NOT_LOADED:
            instance = adapter.load_occurrence(alert, occurrence)
        context = adapter.get_context(alert, rule=rule, status=status, instance=instance)
        text = render_template(rule.template_for(status), context)
    except Exception:
        logger.exception(
            "Rule %r: the %s message failed to render for fingerprint=%s; "
            "sending a plain fallback message instead. Fix the template in the rule.",
            rule.name,
            status,
            fingerprint,
        )
        return fallback_message(context), None, [], context
    blocks, note = blocks_for_message(rule.blocks_template, context)
    # The buttons the rule offers (bot mode), under the text or after its blocks.
    blocks = with_actions(adapter, alert, rule, status, occurrence, text, blocks)
    if note and blocks is None:
        logger.warning(
            "Rule %r: %s (fingerprint=%s). Fix the Block Kit template in the rule.",
            rule.name,
            note,
            fingerprint,
        )
    return text, blocks, [note] if note else [], context
