"""The checks of actions from Slack: the signing secret, the user resolver, and whether the
buttons the rules chose can be offered here (which actions are available, and why not)."""

from __future__ import annotations

import os

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, router, transaction
from django.utils.translation import gettext

from ..adapters import get_adapter
from ..buttons import ACTIONS, HOST_ACTIONS
from ..conf import SIGNING_SECRET_ENV, slack_rules_settings
from ..models import SlackIntegrationRule
from ..services.actions.offer import available_actions
from ..services.actions.signature import SigningSecretMissing, signing_secret
from .common import AppConfigs, Databases, check_message


def check_action_settings(
    app_configs: AppConfigs = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """E015: the signing secret's file cannot be read; E016: the user resolver does not import."""
    messages = []
    if slack_rules_settings.SIGNING_SECRET_FILE:
        try:
            signing_secret()
        except SigningSecretMissing as exc:
            messages.append(
                check_message(
                    "E015",
                    str(exc)[:1].upper() + str(exc)[1:] + ".",
                    gettext(
                        "The file holds the Slack app's signing secret (Basic Information → App "
                        "Credentials) and nothing else; readable by the web server's user only."
                    ),
                )
            )
    if slack_rules_settings.USER_RESOLVER is not None:
        try:
            resolver = slack_rules_settings.import_setting("USER_RESOLVER")
            problem = "" if callable(resolver) else gettext("it is not callable")
        except ImproperlyConfigured as exc:
            problem = str(exc)
        if problem:
            messages.append(
                check_message(
                    "E016",
                    gettext('SLACK_RULES["USER_RESOLVER"] = %(value)r is not usable: %(problem)s')
                    % {"value": slack_rules_settings.USER_RESOLVER, "problem": problem},
                    gettext(
                        "Name a function(slack_user: dict) -> user or None, e.g. "
                        '"myapp.slack.find_user", or None to find users by their email in Slack.'
                    ),
                )
            )
    return messages


def check_rules_actions(
    app_configs: AppConfigs = None, databases: Databases = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """W008: active rules chose buttons that cannot be offered here; says which can."""
    alias = router.db_for_read(SlackIntegrationRule)
    if not databases or alias not in databases:
        return []
    try:
        with transaction.atomic(using=alias):
            chosen = {
                name: set(actions or [])
                for name, actions in SlackIntegrationRule.objects.using(alias)
                .active()
                .order_by("name")
                .values_list("name", "actions")
                if actions
            }
    except DatabaseError:
        return []  # not migrated yet
    if not chosen:
        return []
    try:
        problems = available_actions(get_adapter())
    except ImproperlyConfigured:
        return []  # E003 says what is wrong with the adapter
    if not slack_rules_settings.BOT_MODE:
        why = gettext('the gateway is in webhook mode (SLACK_RULES["GATEWAY_MODE"])')
        problems = {action: problem or why for action, problem in problems.items()}
    if not _has_secret():  # clicks on these would be refused: nothing can verify them
        why = gettext("no signing secret (SIGNING_SECRET_FILE or %(env)s)") % {
            "env": SIGNING_SECRET_ENV
        }
        problems = {
            action: problem or (why if action in HOST_ACTIONS else "")
            for action, problem in problems.items()
        }
    missing = {action for action, problem in problems.items() if problem}
    rules = sorted(name for name, actions in chosen.items() if actions & missing)
    if not rules:
        return []
    available = [action for action in ACTIONS if action not in missing]
    shown = ", ".join(map(repr, rules[:10])) + (", …" if len(rules) > 10 else "")
    return [
        check_message(
            "W008",
            gettext(
                "Rule(s) %(rules)s chose buttons that cannot be offered here, so their messages "
                "go without them: %(problems)s."
            )
            % {
                "rules": shown,
                "problems": "; ".join(f"{a}: {problems[a]}" for a in ACTIONS if a in missing),
            },
            gettext("Available here: %(available)s. See docs/slack.md (buttons).")
            % {"available": ", ".join(available) or gettext("none")},
        )
    ]


def _has_secret() -> bool:
    if slack_rules_settings.SIGNING_SECRET_FILE:
        return True  # E015 reports a file that cannot be read
    return bool(os.environ.get(SIGNING_SECRET_ENV, "").strip())
