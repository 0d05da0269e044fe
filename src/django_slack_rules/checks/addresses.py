"""The addresses in the settings: ``SLACK_INTERNAL_ENDPOINT`` (E005, W003; E006 with
``check --deploy``) and ``SLACK_RULES["SITE_URL"]`` (E012)."""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext

from ..backends import InternalProxyBackend, get_backend_class
from ..conf import parse_endpoint, slack_rules_settings
from .common import AppConfigs, check_message


def check_endpoint_is_set(
    app_configs: AppConfigs = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """E006, a deploy check (``manage.py check --deploy``): the proxy backend without an
    endpoint. Not a start-up check: ``migrate``, ``test`` and ``runserver`` (a host's CI, a
    developer without a gateway) work without one; a message sent meanwhile is recorded as
    failed, naming the setting, and can be resent from the delivery log once it is set."""
    try:
        backend = get_backend_class()
    except ImproperlyConfigured:
        return []  # E004 says why
    if not issubclass(backend, InternalProxyBackend) or slack_rules_settings.ENDPOINT:
        return []
    return [
        check_message(
            "E006",
            gettext(
                "SLACK_INTERNAL_ENDPOINT is empty, so InternalProxyBackend has nowhere to send: "
                "every message would be recorded as failed."
            ),
            gettext(
                "Set SLACK_INTERNAL_ENDPOINT (setting or environment variable) to the "
                "internal proxy location, e.g. http://10.0.0.5/slack-proxy/."
            ),
        )
    ]


def check_endpoint() -> list[checks.CheckMessage]:
    endpoint = slack_rules_settings.ENDPOINT
    if not endpoint:
        return []
    try:
        parts = parse_endpoint(endpoint)
    except ImproperlyConfigured:
        return [
            check_message(
                "E005",
                gettext("SLACK_INTERNAL_ENDPOINT is not an http(s) URL with a host."),
                gettext(
                    "Set it to the internal proxy location, e.g. http://10.0.0.5/slack-proxy/."
                ),
            )
        ]
    host = (parts.hostname or "").lower()
    if host == "slack.com" or host.endswith(".slack.com"):
        return [
            check_message(
                "W003",
                gettext(
                    "SLACK_INTERNAL_ENDPOINT points at Slack itself, so Django holds the secret URL."
                ),
                gettext(
                    "Point it at the internal nginx location (deploy/nginx/) and keep the webhook "
                    "URL or token only in nginx's root-only secrets file."
                ),
            )
        ]
    return []


def check_site_url() -> list[checks.CheckMessage]:
    value = slack_rules_settings.get("SITE_URL")
    if value is None:
        return []
    try:
        parts = parse_endpoint(value) if isinstance(value, str) else None
    except ImproperlyConfigured:
        parts = None
    if parts is not None and not parts.query and not parts.fragment:
        return []
    return [
        check_message(
            "E012",
            gettext('SLACK_RULES["SITE_URL"] = %(value)r is not the address of a site.')
            % {"value": value},
            gettext(
                'Set it to the address people open the site at, e.g. "https://alerts.example.com" '
                "(a digest links to the delivery log there), or remove it."
            ),
        )
    ]
