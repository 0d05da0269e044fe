"""System checks: ``manage.py check`` reports misconfiguration with an id and a hint.

Registered by ``AppConfig.ready()``: :func:`check_settings` (``settings``: what the settings
say, with ``imports``, ``addresses``, ``pages`` and ``metrics``), :func:`check_action_settings`
(``actions``), :func:`check_endpoint_is_set` (``addresses``, only with ``check --deploy``),
:func:`check_recovery_scheduled` (``recovery``: whether celery beat runs the recovery), and
with a database :func:`check_rules_fit_gateway_mode` (``database``) and
:func:`check_rules_actions` (``actions``): what the rules ask for.

Ids are stable; a retired id stays reserved.

====================  ==========================================================
id                    problem
====================  ==========================================================
E001                  SLACK_RULES["SIGNAL"] does not import, or is not a Signal
E002                  SLACK_RULES["ALERT_MODEL"] is not an installed model
E003                  SLACK_RULES["ADAPTER"] does not import, or is not a class
E004                  SLACK_RULES["BACKEND"] does not import, or is not a backend
E005                  SLACK_INTERNAL_ENDPOINT is not an http(s) URL
E006                  SLACK_INTERNAL_ENDPOINT is empty while the proxy backend is used (--deploy)
E007                  SLACK_RULES is not a dict
E008                  a numeric setting is out of range
E009                  SLACK_RULES["SIGNAL"] is set but ALERT_MODEL is not
E010                  SLACK_RULES["DEFAULT_CHANNEL"] is not a Slack channel
E011                  SLACK_RULES["GATEWAY_MODE"] is not "webhook" or "bot"
E012                  SLACK_RULES["SITE_URL"] is not an http(s) URL
E013                  SLACK_RULES["METRICS"] is not valid (a key, a value, an address)
E014                  the metrics token file cannot be read, or is empty, while metrics are on
E015                  SLACK_RULES["SIGNING_SECRET_FILE"] cannot be read, or is empty
E016                  SLACK_RULES["USER_RESOLVER"] does not import, or is not callable
W001                  a test or console backend while DEBUG is off
W002                  an unknown key in SLACK_RULES (a typo?)
W003                  SLACK_INTERNAL_ENDPOINT points at Slack itself
W004                  the rule pages are mounted but crispy-forms is not set up for them
W005                  rules ask for threads or updates webhook mode cannot do (--database)
W006                  ROOT_URLCONF does not load, so the rule pages' setup was not checked
W007                  metrics are on with no token and no allowed address: nobody can scrape
W008                  rules chose buttons that cannot be offered here; which can (--database)
W010                  the periodic recovery task is not scheduled
====================  ==========================================================
"""

from .actions import check_action_settings, check_rules_actions
from .addresses import check_endpoint_is_set
from .database import check_rules_fit_gateway_mode
from .recovery import check_recovery_scheduled
from .settings import check_settings

__all__ = [
    "check_action_settings",
    "check_endpoint_is_set",
    "check_recovery_scheduled",
    "check_rules_actions",
    "check_rules_fit_gateway_mode",
    "check_settings",
]
