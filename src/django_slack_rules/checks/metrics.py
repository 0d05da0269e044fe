"""The metrics checks: ``SLACK_RULES["METRICS"]`` (docs/metrics.md)."""

from __future__ import annotations

import ipaddress
import os

from django.core import checks
from django.utils.translation import gettext

from ..conf import METRICS_DEFAULTS, METRICS_TOKEN_ENV, slack_rules_settings
from .common import check_message

_FIX = gettext(
    'Use SLACK_RULES["METRICS"] = {"ENABLED": True, "TOKEN_FILE": "/run/secrets/metrics-token", '
    '"ALLOW": ["127.0.0.1"], "MAX_LABEL_VALUES": 100} (every key optional; docs/metrics.md).'
)


def check_metrics() -> list[checks.CheckMessage]:
    """E013 (the values), E014 (a token file that cannot be read), W007 (on, but nobody
    can scrape)."""
    value = slack_rules_settings.get("METRICS")
    if not isinstance(value, dict):
        return [_e013(gettext("it is a %(type)s, not a dict") % {"type": type(value).__name__})]
    problems = [
        gettext("unknown key %(key)r") % {"key": key}
        for key in sorted(set(value) - set(METRICS_DEFAULTS))
    ]
    config = slack_rules_settings.METRICS
    if not isinstance(config["ENABLED"], bool):
        problems.append(gettext("ENABLED must be True or False"))
    path = config["TOKEN_FILE"]
    if path is not None and not (isinstance(path, str) and path):
        problems.append(gettext("TOKEN_FILE must be the path of a file, or None"))
    allow = config["ALLOW"]
    if not isinstance(allow, (list, tuple)):
        problems.append(gettext("ALLOW must be a list of addresses or networks"))
        allow = []
    for entry in allow:
        try:
            ipaddress.ip_network(str(entry), strict=False)
        except ValueError:
            problems.append(
                gettext("ALLOW has %(entry)r, which is not an address or a network")
                % {"entry": entry}
            )
    limit = config["MAX_LABEL_VALUES"]
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        problems.append(gettext("MAX_LABEL_VALUES must be an integer of at least 1"))
    if problems:
        return [_e013("; ".join(problems))]
    if not config["ENABLED"]:
        return []
    if path:
        try:
            token = slack_rules_settings.metrics_token()
        except OSError as exc:
            return [_e014(path, exc.strerror or type(exc).__name__)]
        if not token:
            return [_e014(path, gettext("it is empty"))]
        return []
    if os.environ.get(METRICS_TOKEN_ENV, "").strip() or allow:
        return []
    return [
        check_message(
            "W007",
            gettext(
                'SLACK_RULES["METRICS"] is enabled with no token and no allowed address: the '
                "metrics view refuses every scrape."
            ),
            gettext(
                'Set SLACK_RULES["METRICS"]["TOKEN_FILE"] to a file holding a bearer token (or '
                "the environment variable %(env)s), and give Prometheus that token; or list "
                'its address in SLACK_RULES["METRICS"]["ALLOW"].'
            )
            % {"env": METRICS_TOKEN_ENV},
        )
    ]


def _e013(problem: str) -> checks.CheckMessage:
    return check_message(
        "E013",
        gettext('SLACK_RULES["METRICS"] is not valid: %(problem)s.') % {"problem": problem},
        _FIX,
    )


def _e014(path: str, why: str) -> checks.CheckMessage:
    return check_message(
        "E014",
        gettext(
            'SLACK_RULES["METRICS"]["TOKEN_FILE"] = %(path)r cannot be used (%(why)s): every '
            "scrape with a token is refused."
        )
        % {"path": path, "why": why},
        gettext(
            "Write the bearer token into that file (one line) and make it readable by the web "
            "server's user only, or point TOKEN_FILE at the file that holds it."
        ),
    )
