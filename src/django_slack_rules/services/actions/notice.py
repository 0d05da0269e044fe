"""Telling Slack how a click ended: the message updated, or an answer only the clicker sees.

A done action updates its message (``chat.update`` through the gateway): the buttons of
the actions done are gone, and a line says who did what, and until when. The line is
rebuilt from every action done on the message, so two people acting at once both show.
A refused or failed one is answered with ``chat.postEphemeral`` to the clicker alone,
saying why and how to fix it. Slack's errors are raised (``SlackDeliveryError``): the
caller retries what can succeed later.
"""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.translation import gettext

from ...buttons import ACKNOWLEDGE, SILENCE, action_label, after_actions
from ...models import ACTION_UPDATE, ActionState, DeliveryState, SlackAction, SlackDelivery
from ...typing import JSONValue
from ..slack_service import SlackService


class Skipped(Exception):
    """Nothing is sent, on purpose; the message says why (kept on the action)."""


def tell(action: SlackAction) -> None:
    """Update the message (a done action) or answer the clicker (any other). Raises
    :class:`Skipped`, and Slack's errors."""
    if action.state == str(ActionState.DONE):
        update_message(action)
    else:
        answer_clicker(action)


def update_message(action: SlackAction) -> None:
    """The message as it is once every action done on it is done."""
    delivery = action.delivery
    if delivery is None:
        raise Skipped(gettext("the message is not in the delivery log, so it is not updated"))
    if delivery.followups.filter(action=ACTION_UPDATE, state=DeliveryState.SENT).exists():
        raise Skipped(gettext("the message shows the alert's resolution by now; not changed"))
    channel = action.channel_id or delivery.channel_id
    ts = action.message_ts or delivery.message_ts
    if not channel or not ts:
        raise Skipped(gettext("Slack did not say which message it was"))
    done = list(delivery.slack_actions.filter(state=ActionState.DONE).order_by("finished_at", "pk"))
    blocks = after_actions(
        base_blocks(delivery),
        action.message_ref,
        [other.action for other in done],
        [line(other) for other in done],
    )
    SlackService().update_message(channel, ts, delivery.text, payload={"blocks": blocks})


def base_blocks(delivery: SlackDelivery) -> list[JSONValue]:
    """The message's blocks as sent: its own, or its text as a section."""
    if delivery.blocks:
        return list(delivery.blocks)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": delivery.text}}]


def line(action: SlackAction) -> str:
    """Who did a done action, and when or until when, as Slack mrkdwn."""
    who = f"<@{action.slack_user_id}>" if action.slack_user_id else action.slack_user_name
    if action.action == SILENCE and action.until is not None:
        return ":no_bell: " + gettext("Silenced by %(who)s until %(until)s") % {
            "who": who,
            "until": slack_date(action.until),
        }
    if action.action == ACKNOWLEDGE:
        when = action.finished_at or action.clicked_at
        return ":white_check_mark: " + gettext("Acknowledged by %(who)s at %(when)s") % {
            "who": who,
            "when": slack_date(when),
        }
    return gettext("%(action)s by %(who)s") % {"action": action_label(action.action), "who": who}


def slack_date(moment: datetime.datetime) -> str:
    """A time Slack shows in each reader's own time zone; the server's as the fallback."""
    local = timezone.localtime(moment)
    fallback = local.strftime("%Y-%m-%d %H:%M %Z")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def answer_clicker(action: SlackAction) -> None:
    """Tell the clicker, and only them, that nothing was done, and why."""
    if not action.channel_id or not action.slack_user_id:
        raise Skipped(gettext("Slack did not say where or to whom to answer"))
    what = action_label(action.action) if action.is_known else action.action_id
    text = ":warning: " + gettext("%(action)s: nothing was done. %(reason)s") % {
        "action": what,
        "reason": action.reason,
    }
    SlackService().post_ephemeral(action.channel_id, action.slack_user_id, text)
