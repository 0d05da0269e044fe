"""The buttons on a rule's message, as Block Kit, and the message once an action is done.

Pure (no database, no network, no settings): built with Slack's own models
(``slack_sdk.models.blocks``), so Slack's limits are checked where they are made.

A rule's message carries one ``actions`` block whose ``block_id`` is the message's
reference (its delivery's idempotency key), so a click names the message it came from.
Each element's ``action_id`` is ``dsr_`` and the action: ``dsr_acknowledge`` (a button),
``dsr_silence`` (a select of durations, in seconds) and ``dsr_open`` (a link button).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.utils.translation import gettext, ngettext

from .rendering.blocks import MAX_BLOCKS, fit_blocks
from .typing import JSONObject, JSONValue

ACKNOWLEDGE, SILENCE, OPEN = "acknowledge", "silence", "open"
#: Every action a rule can offer, in the order its buttons are shown.
ACTIONS = (ACKNOWLEDGE, SILENCE, OPEN)
#: The actions that change something in the host (``open`` is a link).
HOST_ACTIONS = (ACKNOWLEDGE, SILENCE)
#: How long a silence from Slack lasts: the select's options, in seconds.
SILENCE_DURATIONS = (3600, 4 * 3600, 24 * 3600)
#: What starts the ``action_id`` of every element this package puts in a message.
ACTION_ID_PREFIX = "dsr_"
#: Slack's limit on a ``block_id``.
BLOCK_ID_MAX = 255


def action_label(action: str) -> str:
    """An action's name for people, in the active language ("Acknowledge")."""
    labels = {
        ACKNOWLEDGE: gettext("Acknowledge"),
        SILENCE: gettext("Silence"),
        OPEN: gettext("Open"),
    }
    return labels.get(action, action)


def duration_label(seconds: int) -> str:
    """``3600`` → "1 hour"; ``86400`` → "24 hours"."""
    hours = seconds // 3600
    if hours * 3600 == seconds:
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    minutes = max(1, seconds // 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def action_id(action: str) -> str:
    """The ``action_id`` of ``action``'s element: ``dsr_acknowledge``."""
    return ACTION_ID_PREFIX + action


def action_of(element_action_id: str) -> str | None:
    """The action an element's ``action_id`` stands for, or None when it is not one of ours."""
    if not element_action_id.startswith(ACTION_ID_PREFIX):
        return None
    action = element_action_id[len(ACTION_ID_PREFIX) :]
    return action if action in ACTIONS else None


def silence_seconds(value: str) -> int | None:
    """The duration a silence select's option stands for, or None if it is not one offered."""
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds in SILENCE_DURATIONS else None


def actions_block(
    actions: Sequence[str], *, ref: str, url: str | None = None, host_name: str = ""
) -> JSONObject | None:
    """The ``actions`` block offering ``actions`` for the message ``ref``, as a dict.

    ``url``: the alert's page in the host (the ``open`` button links there; without one
    there is no such button). ``host_name`` names the host on that button ("Open in
    SentryHub"). None when no element is left (nothing to offer).
    """
    from slack_sdk.models.blocks import (
        ActionsBlock,
        ButtonElement,
        LinkButtonElement,
        Option,
        StaticSelectElement,
    )

    if len(ref) > BLOCK_ID_MAX:
        raise ValueError(f"a message reference is at most {BLOCK_ID_MAX} characters: {ref!r}")
    elements: list[ButtonElement | StaticSelectElement | LinkButtonElement] = []
    if ACKNOWLEDGE in actions:
        elements.append(
            ButtonElement(
                text=gettext("Acknowledge"),
                action_id=action_id(ACKNOWLEDGE),
                value=ACKNOWLEDGE,
                style="primary",
            )
        )
    if SILENCE in actions:
        elements.append(
            StaticSelectElement(
                placeholder=gettext("Silence for…"),
                action_id=action_id(SILENCE),
                options=[
                    Option(value=str(seconds), text=duration_label(seconds))
                    for seconds in SILENCE_DURATIONS
                ],
            )
        )
    if OPEN in actions and url:
        text = gettext("Open in %(host)s") % {"host": host_name} if host_name else gettext("Open")
        elements.append(LinkButtonElement(text=text, url=url, action_id=action_id(OPEN)))
    if not elements:
        return None
    block: JSONObject = ActionsBlock(block_id=ref, elements=elements).to_dict()
    return block


def with_buttons(text: str, blocks: list[JSONValue] | None, block: JSONObject) -> list[JSONValue]:
    """The blocks of a message with ``block`` (the actions) at the end.

    A text-only message gets a section with its text first, since buttons need blocks and
    Slack then shows the blocks instead of the text (which stays the notification's
    text). Over Slack's 50 blocks, the last ones give way to the buttons.
    """
    if blocks:
        base = fit_blocks(blocks)[: MAX_BLOCKS - 1]
    else:
        base = fit_blocks([{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
    return [*base, block]


def is_our_block(block: JSONValue, ref: str) -> bool:
    return (
        isinstance(block, dict) and block.get("type") == "actions" and block.get("block_id") == ref
    )


def after_actions(
    blocks: list[JSONValue], ref: str, done: Sequence[str], lines: Sequence[str]
) -> list[JSONValue]:
    """The message's blocks once ``done`` actions are done: their elements gone from the
    actions block ``ref`` (the block too when nothing is left), and ``lines`` (who did what,
    and until when) added below as one context block."""
    kept: list[JSONValue] = []
    copy: list[JSONValue] = json.loads(json.dumps(blocks))
    for block in copy:
        if isinstance(block, dict) and is_our_block(block, ref):
            elements = [
                element
                for element in _list(block.get("elements"))
                if action_of(str(_dict(element).get("action_id") or "")) not in done
            ]
            if not elements:
                continue
            block["elements"] = elements
        kept.append(block)
    if lines:
        outcome: JSONObject = {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "\n".join(lines)}],
        }
        kept = fit_blocks([*kept[: MAX_BLOCKS - 1], outcome])
    return kept


def _list(value: JSONValue) -> list[JSONValue]:
    return value if isinstance(value, list) else []


def _dict(value: JSONValue) -> JSONObject:
    return value if isinstance(value, dict) else {}


def validate_actions(value: object) -> None:
    """A rule's ``actions``: a list of ``acknowledge``, ``silence`` and ``open``, each once."""
    from django.core.exceptions import ValidationError

    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(
            gettext('The actions must be a list such as ["acknowledge", "silence", "open"].'),
            code="invalid_actions",
        )
    unknown = [item for item in value if item not in ACTIONS]
    if unknown:
        raise ValidationError(
            gettext("Unknown action %(actions)s: choose among %(known)s.")
            % {"actions": ", ".join(map(repr, unknown)), "known": ", ".join(ACTIONS)},
            code="invalid_actions",
        )
    if len(set(value)) != len(value):
        raise ValidationError(gettext("Name each action once."), code="invalid_actions")
