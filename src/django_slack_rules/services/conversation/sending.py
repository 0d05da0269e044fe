"""Sending a claimed delivery as its conversation asks: a post, a thread reply or an update
(:func:`plan`), or a new message instead, and why (``note``); see the package's docstring."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from ...backends import SlackResult
from ...conf import slack_rules_settings
from ...exceptions import SlackDeliveryError, SlackSendCancelled
from ...models import (
    ACTION_POST,
    ACTION_REPLY,
    ACTION_UPDATE,
    FINAL_STATES,
    DeliveryState,
    SlackDelivery,
)
from ...typing import JSONObject, JSONValue
from ..slack_service import SlackService

#: Slack's answers to chat.update after which a new message is posted instead.
CANNOT_UPDATE = frozenset(
    {"message_not_found", "cant_update_message", "edit_window_closed", "update_not_supported"}
)
#: Slack's answers to blocks it will not show: the message is sent again as text.
INVALID_BLOCKS = frozenset({"invalid_blocks", "invalid_blocks_format"})


class Skipped(SlackSendCancelled):
    """Nothing to send: an update whose resolution is already in the thread (recorded as
    cancelled, with the reason)."""


@dataclass
class Plan:
    """What one delivery does in Slack now."""

    action: str
    channel: str  # a channel id when known (replies, updates), else the delivery's channel
    thread_ts: str = ""
    ts: str = ""  # the message an update replaces
    notes: list[str] = field(default_factory=list)


def plan(delivery: SlackDelivery) -> Plan:
    """What ``delivery`` does in Slack now: its intended action, or a new message and why."""
    post = Plan(ACTION_POST, delivery.channel)
    if delivery.action == ACTION_POST:
        return post
    wanted = "a thread reply" if delivery.action == ACTION_REPLY else "an update"
    if not slack_rules_settings.BOT_MODE:
        post.notes.append(
            f'Posted as a new message instead of {wanted}: SLACK_RULES["GATEWAY_MODE"] is '
            '"webhook", and incoming webhooks cannot reply in a thread or update a message.'
        )
        return post
    parent = SlackDelivery.objects.filter(pk=delivery.parent_id).select_related("digest").first()
    if parent is not None and parent.state == str(DeliveryState.DIGESTED):
        return _in_digest_thread(delivery, parent, post, wanted)
    why = _why_unusable(parent, delivery)
    if why:
        return _post_instead(delivery, post, wanted, why)
    assert parent is not None
    if delivery.action == ACTION_REPLY:
        return Plan(
            ACTION_REPLY,
            parent.channel_id or parent.channel,
            thread_ts=parent.thread_ts or parent.message_ts,
        )
    return Plan(ACTION_UPDATE, parent.channel_id, ts=parent.message_ts)


def _in_digest_thread(
    delivery: SlackDelivery, parent: SlackDelivery, post: Plan, wanted: str
) -> Plan:
    """The first message was folded into a digest: reply in the digest's thread (a digest
    is not updated: it tells of many alerts), or post a new message and say why."""
    digest = parent.digest
    if digest is None:
        why = "the firing message was folded into a digest that was deleted since"
    else:
        what = f"the digest #{digest.pk} that folded the firing message"
        why = _why_unusable(digest, delivery, what=what, action=ACTION_REPLY)
    if why:
        post.notes.append(f"Posted as a new message instead of {wanted}: {why}.")
        return post
    assert digest is not None
    instead = " instead of an update" if delivery.action == ACTION_UPDATE else ""
    plan = Plan(
        ACTION_REPLY,
        digest.channel_id or digest.channel,
        thread_ts=digest.thread_ts or digest.message_ts,
    )
    plan.notes.append(
        f"In the thread of digest #{digest.pk}{instead}: the firing message was folded into it."
    )
    return plan


def _why_unusable(
    parent: SlackDelivery | None,
    delivery: SlackDelivery,
    *,
    what: str = "the firing message",
    action: str = "",
) -> str:
    """Why ``parent`` cannot take ``delivery`` (a reply or an update: ``action``), or ""."""
    if parent is None:
        return "no firing message of this alert was recorded by the rule"
    if parent.state != str(DeliveryState.SENT):
        if parent.state in FINAL_STATES:
            return f"{what} was not sent ({parent.state})"
        return (
            f"{what} was still not sent after "
            f'SLACK_RULES["THREAD_WAIT"] = {slack_rules_settings.THREAD_WAIT:g}s'
        )
    if not parent.message_ts:
        return f"{what} was sent without Slack's ts (in webhook mode?)"
    if (action or delivery.action) == ACTION_UPDATE:
        if not parent.channel_id:
            return "Slack's answer to the firing message had no channel id"
        window = slack_rules_settings.EDIT_WINDOW
        sent_at = parent.sent_at or parent.created_at
        if window is not None and (timezone.now() - sent_at).total_seconds() > window:
            return f'the firing message is older than SLACK_RULES["EDIT_WINDOW"] = {window:g}s'
    return ""


def _post_instead(delivery: SlackDelivery, post: Plan, wanted: str, why: str) -> Plan:
    """A new message instead of ``wanted``; an update whose resolution is in the thread is
    skipped instead (:class:`Skipped`)."""
    if delivery.action == ACTION_UPDATE and _reply_carries_it(delivery):
        raise Skipped(f"Not updated: {why}; the resolution's thread reply carries the news.")
    post.notes.append(f"Posted as a new message instead of {wanted}: {why}.")
    return post


def _reply_carries_it(delivery: SlackDelivery) -> bool:
    """True when the same notification of the same alert has a thread reply under the same
    first message that was sent or is on its way (``update_and_reply``'s reply)."""
    replies: QuerySet[SlackDelivery] = SlackDelivery.objects.filter(
        parent_id=delivery.parent_id,
        alert_id=delivery.alert_id,
        alert_status=delivery.alert_status,
        occurrence=delivery.occurrence,
        rule_id=delivery.rule_id,
        action=ACTION_REPLY,
    ).exclude(state__in=[DeliveryState.FAILED, DeliveryState.CANCELLED])
    return replies.exclude(pk=delivery.pk).exists()


def send(delivery: SlackDelivery, service: SlackService) -> tuple[SlackResult, dict[str, object]]:
    """Send a claimed delivery as planned; Slack's result and the fields that record how.

    An update Slack cannot make is posted as a new message (or skipped, see
    :func:`plan`), and blocks Slack refuses are sent again as text; each time ``note``
    says why. Raises what the last call raised.
    """
    current = plan(delivery)
    try:
        result = _call_slack(delivery, service, current, blocks=delivery.blocks)
    except SlackDeliveryError as exc:
        if current.action == ACTION_UPDATE and exc.error in CANNOT_UPDATE:
            post = Plan(ACTION_POST, delivery.channel)
            current = _post_instead(delivery, post, "an update", f"Slack answered {exc.error}")
            result = _call_slack(delivery, service, current, blocks=delivery.blocks)
        elif exc.error in INVALID_BLOCKS and delivery.blocks:
            current.notes.append(f"Slack refused the blocks ({exc}); sent as text.")
            result = _call_slack(delivery, service, current, blocks=None)
        else:
            raise
    fields: dict[str, object] = {
        "action": current.action,
        "thread_ts": current.thread_ts,
        "channel_id": result.channel_id or (current.channel if current.ts else ""),
    }
    if current.notes:
        fields["note"] = " ".join(filter(None, [delivery.note, *current.notes]))
    return result, fields


def _call_slack(
    delivery: SlackDelivery, service: SlackService, current: Plan, blocks: JSONValue
) -> SlackResult:
    payload: JSONObject = {}
    if current.action == ACTION_UPDATE:
        # An update without blocks removes the first message's blocks (Slack keeps them
        # when the field is absent).
        payload["blocks"] = blocks or []
        return service.update_message(
            current.channel, current.ts, delivery.text, delivery=delivery, payload=payload
        )
    if blocks:
        payload["blocks"] = blocks
    if current.action == ACTION_REPLY:
        payload.update(channel=current.channel, thread_ts=current.thread_ts)
        rule = delivery.rule
        if rule is not None and rule.reply_broadcast:
            payload["reply_broadcast"] = True
    if payload:
        return service.send_notification(
            delivery.channel, delivery.text, delivery=delivery, payload=payload
        )
    return service.send_notification(delivery.channel, delivery.text, delivery=delivery)
