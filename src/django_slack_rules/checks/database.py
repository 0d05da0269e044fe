"""The database check: what active rules ask for that the settings cannot give."""

from __future__ import annotations

from django.core import checks
from django.db import DatabaseError, router, transaction
from django.utils.translation import gettext, ngettext

from ..conf import slack_rules_settings
from ..models import RESOLVE_POST, SlackIntegrationRule
from .common import AppConfigs, Databases, check_message


def check_rules_fit_gateway_mode(
    app_configs: AppConfigs = None, databases: Databases = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """W005: active rules asking for a thread or an update in webhook mode (saved in bot mode
    before a switch). Tagged ``database``: Django runs it only when asked for a database
    (``check --database default``, ``migrate``), never without one; E011 covers a bad mode.
    """
    alias = router.db_for_read(SlackIntegrationRule)
    mode = slack_rules_settings.GATEWAY_MODE
    if not databases or alias not in databases or mode != "webhook":
        return []
    try:
        with transaction.atomic(using=alias):  # a failure (no table yet) rolls back only this
            names = list(
                SlackIntegrationRule.objects.using(alias)
                .active()
                .exclude(resolve_action=RESOLVE_POST, refire_in_thread=False)
                .order_by("name")
                .values_list("name", flat=True)[:11]
            )
    except DatabaseError:
        return []  # not migrated yet: nothing to say
    if not names:
        return []
    shown = ", ".join(map(repr, names[:10])) + (", …" if len(names) > 10 else "")
    return [
        check_message(
            "W005",
            ngettext(
                "Rule %(names)s asks for a thread reply or an update of the firing message, "
                'which SLACK_RULES["GATEWAY_MODE"] = "webhook" cannot do: it posts a new '
                "message instead.",
                "Rules %(names)s ask for thread replies or updates of the firing message, "
                'which SLACK_RULES["GATEWAY_MODE"] = "webhook" cannot do: they post a new '
                "message instead.",
                len(names),
            )
            % {"names": shown},
            gettext(
                'Set SLACK_RULES["GATEWAY_MODE"] = "bot" and put a bot token in the gateway '
                '(docs/gateway.md), or set these rules\' resolve action to "post" and turn '
                "off their thread option."
            ),
        )
    ]
