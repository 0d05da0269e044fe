"""The rule form's buttons: which actions a rule offers in Slack, and whether this host can."""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.utils.translation import gettext

from ..adapters import get_adapter
from ..buttons import ACTIONS, action_label
from ..conf import slack_rules_settings
from ..services.actions.offer import adapter_problem


def action_choices() -> list[tuple[str, str]]:
    """The actions a rule can offer, each with what it does."""
    meaning = {
        "acknowledge": gettext("the clicker acknowledges the alert in the host"),
        "silence": gettext("silences it for 1, 4 or 24 hours"),
        "open": gettext("a link to the alert's page in the host"),
    }
    return [(action, f"{action_label(action)}: {meaning[action]}") for action in ACTIONS]


def actions_help() -> str:
    """Which actions this host can offer, and why not the others."""
    try:
        adapter = get_adapter()
    except Exception:  # a bad ADAPTER setting: the system check E003 says so
        return ""
    missing = [
        gettext("%(action)s: %(problem)s") % {"action": action_label(action), "problem": problem}
        for action in ACTIONS
        if (problem := adapter_problem(adapter, action))
    ]
    lines = [
        gettext(
            "A click is verified, done as the clicker's own host user (found by their email "
            "in Slack), and shown in the message and the delivery log. Needs bot mode and the "
            "Slack app's interactivity (docs/slack.md)."
        )
    ]
    if missing:
        lines.append(gettext("Not available here: %(list)s.") % {"list": "; ".join(missing)})
    return " ".join(lines)


def clean_actions(chosen: Sequence[str], before: Sequence[str]) -> list[str]:
    """The chosen actions in the buttons' order. A newly chosen one must be one this host can
    offer: bot mode, and an adapter that can do it. One chosen before stays (it is left out
    of the messages while it cannot be offered; ``check --database default`` says so)."""
    ordered = [action for action in ACTIONS if action in chosen]
    new = [action for action in ordered if action not in before]
    if new and not slack_rules_settings.BOT_MODE:
        raise forms.ValidationError(
            gettext(
                "Buttons need the gateway in bot mode, and it is in webhook mode "
                '(SLACK_RULES["GATEWAY_MODE"] = "webhook"). Switch to bot mode (a bot token; '
                "see docs/slack.md), or choose no buttons."
            )
        )
    if new:
        adapter = get_adapter()
        problems = [
            gettext("%(action)s is not available here: %(problem)s.")
            % {"action": action_label(action), "problem": problem}
            for action in new
            if (problem := adapter_problem(adapter, action))
        ]
        if problems:
            raise forms.ValidationError(problems)
    return ordered
