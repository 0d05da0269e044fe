"""Which buttons a rule's message offers here, and the blocks it is sent with.

A rule chooses its actions (``SlackIntegrationRule.actions``); a button is offered when
the gateway is in bot mode (a click is answered with ``chat.update`` and
``chat.postEphemeral``) and the adapter can do the action: it has the methods
(``acknowledge`` and ``can``, ``silence`` and ``can``, ``get_url``) and, if it has an
``unavailable(action)`` method, that says nothing against it.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

from django.utils.translation import gettext

from ...adapters import BaseAlertAdapter, alert_id
from ...buttons import (
    ACKNOWLEDGE,
    ACTIONS,
    OPEN,
    SILENCE,
    actions_block,
    is_our_block,
    with_buttons,
)
from ...conf import slack_rules_settings
from ...models import STATUS_FIRING, SlackDelivery, SlackIntegrationRule
from ...typing import HostAlert, JSONValue

logger = logging.getLogger(__name__)

#: The adapter methods each action needs.
METHODS = {
    ACKNOWLEDGE: ("acknowledge", "can"),
    SILENCE: ("silence", "can"),
    OPEN: ("get_url",),
}

#: The message reference of the buttons the preview shows.
PREVIEW_REF = "preview"


def adapter_problem(adapter: BaseAlertAdapter, action: str) -> str:
    """Why ``adapter`` cannot do ``action`` in this host ("" when it can)."""
    if action not in METHODS:
        return gettext("%(action)r is not an action") % {"action": action}
    for name in METHODS[action]:
        if not callable(getattr(adapter, name, None)):
            return gettext("the adapter %(adapter)s has no %(method)s() method") % {
                "adapter": type(adapter).__name__,
                "method": name,
            }
    check = getattr(adapter, "unavailable", None)
    if callable(check):
        return str(check(action) or "")
    return ""


def available_actions(adapter: BaseAlertAdapter) -> dict[str, str]:
    """Each action, and why the adapter cannot do it here ("" when it can)."""
    return {action: adapter_problem(adapter, action) for action in ACTIONS}


def offered(rule: SlackIntegrationRule, adapter: BaseAlertAdapter) -> list[str]:
    """The rule's actions that its messages carry here, in the buttons' order."""
    chosen = rule.actions or []
    if not chosen or not slack_rules_settings.BOT_MODE:
        return []
    return [
        action for action in ACTIONS if action in chosen and not adapter_problem(adapter, action)
    ]


def message_ref(rule: SlackIntegrationRule, alert: HostAlert, status: str, occurrence: str) -> str:
    """The reference a message's buttons carry: its delivery's idempotency key."""
    return SlackDelivery.make_key(rule.pk, alert_id(alert), status, occurrence)


def with_actions(
    adapter: BaseAlertAdapter[HostAlert],
    alert: HostAlert,
    rule: SlackIntegrationRule,
    status: str,
    occurrence: str,
    text: str,
    blocks: list[JSONValue] | None,
) -> list[JSONValue] | None:
    """The blocks to send for ``rule``'s notification of ``alert``: ``blocks`` (None: text
    only) with the buttons the rule offers, on a firing message in bot mode.

    Never raises: when the adapter fails, the message goes without buttons (logged).
    """
    if status != STATUS_FIRING or not rule.actions:
        return blocks
    ref = message_ref(rule, alert, status, occurrence)
    if any(is_our_block(block, ref) for block in blocks or []):
        return blocks  # they have their buttons already
    try:
        actions = offered(rule, adapter)
        if not actions:
            return blocks
        url = adapter.get_url(alert) if OPEN in actions else None  # type: ignore[attr-defined]
        block = actions_block(
            actions,
            ref=ref,
            url=url,
            host_name=str(getattr(adapter, "host_name", "") or ""),
        )
    except Exception:
        logger.exception(
            "Rule %r: the buttons failed for fingerprint=%s; the message is sent without them",
            rule.name,
            adapter.get_fingerprint(alert),
        )
        return blocks
    return blocks if block is None else with_buttons(text, blocks, block)


def preview_actions(
    rule: SlackIntegrationRule,
    adapter: BaseAlertAdapter,
    text: str,
    blocks: list[JSONValue] | None,
    status: str,
    labels: dict[str, str],
) -> tuple[list[JSONValue] | None, list[str]]:
    """The preview's blocks with the buttons a real message of this sample would carry, and
    a note for each chosen action it would not (saying why)."""
    chosen = [action for action in ACTIONS if action in (rule.actions or [])]
    if status != STATUS_FIRING or not chosen:
        return blocks, []
    if not slack_rules_settings.BOT_MODE:
        return blocks, [
            gettext(
                'No buttons: the gateway is in webhook mode (SLACK_RULES["GATEWAY_MODE"] = '
                '"webhook"), and buttons need bot mode.'
            )
        ]
    notes = []
    actions = []
    for action in chosen:
        problem = adapter_problem(adapter, action)
        if problem:
            notes.append(
                gettext("No %(action)s button: %(problem)s.")
                % {"action": action, "problem": problem}
            )
        else:
            actions.append(action)
    url = None
    if OPEN in actions:
        sample = SimpleNamespace(pk=0, id=0, fingerprint="preview", labels=labels, name="")
        try:
            url = adapter.get_url(sample)  # type: ignore[attr-defined]
        except Exception:
            url = None
        if not url:
            notes.append(
                gettext("No open button for this sample: the adapter gives no URL for it.")
            )
    block = actions_block(
        actions, ref=PREVIEW_REF, url=url, host_name=str(getattr(adapter, "host_name", "") or "")
    )
    return (blocks if block is None else with_buttons(text, blocks, block)), notes
