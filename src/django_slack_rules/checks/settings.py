"""The settings checks: ``SLACK_RULES`` and ``SLACK_INTERNAL_ENDPOINT`` (and crispy-forms,
when the rule pages are mounted)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext

from ..backends import ConsoleBackend, InternalProxyBackend, LocmemBackend, get_backend_class
from ..conf import DEFAULTS, GATEWAY_MODES, parse_endpoint, slack_rules_settings
from ..rendering.templates import SLACK_MAX_MESSAGE_LENGTH
from ..validators import is_valid_channel
from .common import AppConfigs, check_message
from .metrics import check_metrics


def check_settings(app_configs: AppConfigs = None, **kwargs: object) -> list[checks.CheckMessage]:
    raw = getattr(settings, "SLACK_RULES", None)
    if raw is not None and not isinstance(raw, dict):
        return [
            check_message(
                "E007",
                gettext("SLACK_RULES must be a dict, not %(type)s.") % {"type": type(raw).__name__},
                gettext(
                    'Set SLACK_RULES = {"SIGNAL": "...", "ALERT_MODEL": "...", ...} '
                    "(see docs/settings.md)."
                ),
            )
        ]
    messages: list[checks.CheckMessage] = []
    unknown = sorted(set(raw or {}) - set(DEFAULTS))
    if unknown:
        messages.append(
            check_message(
                "W002",
                gettext("SLACK_RULES has unknown key(s): %(keys)s.") % {"keys": ", ".join(unknown)},
                gettext("Known keys: %(keys)s. Check the spelling.")
                % {"keys": ", ".join(DEFAULTS)},
            )
        )
    slack_rules_settings.reload()
    messages += _check_signal() + _check_alert_model() + _check_adapter() + _check_backend()
    messages += _check_endpoint() + _check_numbers() + _check_channel() + _check_pages()
    messages += _check_gateway_mode() + _check_site_url() + check_metrics()
    return messages


def _import(key: str) -> tuple[object, str | None]:
    try:
        return slack_rules_settings.import_setting(key), None
    except ImproperlyConfigured as exc:
        return None, str(exc)


def _check_signal() -> list[checks.CheckMessage]:
    if slack_rules_settings.SIGNAL is None:
        return []
    try:
        slack_rules_settings.get_signal()
    except ImproperlyConfigured as exc:
        return [
            check_message(
                "E001",
                str(exc),
                gettext(
                    'Set SLACK_RULES["SIGNAL"] to the dotted path of the host\'s Signal, '
                    'e.g. "alerts.signals.alert_processed", or None to connect nothing.'
                ),
            )
        ]
    if not slack_rules_settings.ALERT_MODEL:
        return [
            check_message(
                "E009",
                gettext(
                    'SLACK_RULES["SIGNAL"] is set but SLACK_RULES["ALERT_MODEL"] is not, so the '
                    "task cannot load the alert."
                ),
                gettext(
                    'Set SLACK_RULES["ALERT_MODEL"] to "app_label.ModelName", '
                    'e.g. "alerts.AlertGroup".'
                ),
            )
        ]
    return []


def _check_alert_model() -> list[checks.CheckMessage]:
    if not slack_rules_settings.ALERT_MODEL:
        return []
    try:
        slack_rules_settings.get_alert_model()
    except ImproperlyConfigured as exc:
        return [
            check_message(
                "E002",
                str(exc),
                gettext(
                    'Use "app_label.ModelName" of a model in an installed app, '
                    'e.g. "alerts.AlertGroup".'
                ),
            )
        ]
    return []


def _check_adapter() -> list[checks.CheckMessage]:
    adapter, problem = _import("ADAPTER")
    if problem or not isinstance(adapter, type):
        return [
            check_message(
                "E003",
                problem
                or gettext('SLACK_RULES["ADAPTER"] = %(value)r is not a class.')
                % {"value": slack_rules_settings.ADAPTER},
                gettext(
                    'Name an adapter class, e.g. "django_slack_rules.adapters.AlertGroupAdapter" '
                    "or your subclass of it."
                ),
            )
        ]
    return []


def _check_backend() -> list[checks.CheckMessage]:
    try:
        backend = get_backend_class()
    except ImproperlyConfigured as exc:
        return [
            check_message(
                "E004",
                str(exc),
                gettext(
                    'Use "django_slack_rules.backends.InternalProxyBackend" (production), '
                    '"...LocmemBackend" (tests) or "...ConsoleBackend" (development).'
                ),
            )
        ]
    messages = []
    if issubclass(backend, (LocmemBackend, ConsoleBackend)) and not settings.DEBUG:
        messages.append(
            check_message(
                "W001",
                gettext(
                    'SLACK_RULES["BACKEND"] is %(backend)s while DEBUG is off: '
                    "no message will reach Slack."
                )
                % {"backend": backend.__name__},
                gettext('Use "django_slack_rules.backends.InternalProxyBackend" in production.'),
            )
        )
    return messages


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


def _check_endpoint() -> list[checks.CheckMessage]:
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


_NUMBERS: dict[str, tuple[float, float | None, bool]] = {
    # key: (minimum, maximum, integer)
    "MAX_ATTEMPTS": (1, None, True),
    "RETRY_BACKOFF_BASE": (0.001, None, False),
    "RETRY_BACKOFF_MAX": (1, None, False),
    "CONNECT_TIMEOUT": (0.001, None, False),
    "READ_TIMEOUT": (0.001, None, False),
    "MESSAGE_MAX_LENGTH": (100, SLACK_MAX_MESSAGE_LENGTH, True),
    "THREAD_WAIT": (0, None, False),
    "EDIT_WINDOW": (1, None, False),
    "CHANNEL_RATE": (0.001, None, False),
    "CHANNEL_BURST": (1, None, True),
    "DIGEST_AFTER": (1, None, True),
    "RECOVERY_AFTER": (1, None, False),
}
#: Numeric settings that may also be None.
_NULLABLE = frozenset({"EDIT_WINDOW", "CHANNEL_RATE", "DIGEST_AFTER"})


def _check_numbers() -> list[checks.CheckMessage]:
    messages = []
    for key, (low, high, integer) in _NUMBERS.items():
        value = slack_rules_settings.get(key)
        if value is None and key in _NULLABLE:
            continue
        kind = int if integer else (int, float)
        ok = isinstance(value, kind) and not isinstance(value, bool)
        ok = ok and value >= low and (high is None or value <= high)
        if not ok:
            if high is None:
                bounds = gettext("at least %(low)s") % {"low": f"{low:g}"}
            else:
                bounds = gettext("at least %(low)s and at most %(high)s") % {
                    "low": f"{low:g}",
                    "high": f"{high:,}",
                }
            messages.append(
                check_message(
                    "E008",
                    gettext(
                        'SLACK_RULES["%(key)s"] = %(value)r is not valid: it must be %(kind)s '
                        "%(bounds)s."
                    )
                    % {
                        "key": key,
                        "value": value,
                        "kind": gettext("an integer") if integer else gettext("a number"),
                        "bounds": bounds,
                    },
                    gettext("Remove the key to use the default (%(default)r).")
                    % {"default": DEFAULTS[key]},
                )
            )
    return messages


def _check_channel() -> list[checks.CheckMessage]:
    channel = slack_rules_settings.DEFAULT_CHANNEL
    if not isinstance(channel, str) or not is_valid_channel(channel):
        return [
            check_message(
                "E010",
                gettext('SLACK_RULES["DEFAULT_CHANNEL"] = %(value)r is not a Slack channel.')
                % {"value": channel},
                gettext("Use '#name' or a channel id such as 'C0123ABCDEF'."),
            )
        ]
    return []


def _check_pages() -> list[checks.CheckMessage]:
    """The rule pages render their forms with crispy-forms' Bootstrap 5 pack."""
    from django.apps import apps
    from django.urls import NoReverseMatch, reverse

    if not getattr(settings, "ROOT_URLCONF", None):
        return []  # no URLconf (a worker's settings): no pages to check
    try:
        reverse("django_slack_rules:rule-list")
    except NoReverseMatch:
        return []  # the pages are not mounted: nothing to check
    except Exception as exc:  # a check reports; it never raises into manage.py
        return [
            check_message(
                "W006",
                gettext(
                    "Could not look up the Slack rule pages in ROOT_URLCONF %(urlconf)r "
                    "(%(error)s), so their setup was not checked."
                )
                % {"urlconf": settings.ROOT_URLCONF, "error": f"{type(exc).__name__}: {exc}"},
                gettext(
                    'Fix the URLconf so that it imports (python -c "import <ROOT_URLCONF>" '
                    "shows the error), then run manage.py check again."
                ),
            )
        ]
    problems = [
        gettext("%(app)r is not in INSTALLED_APPS") % {"app": app}
        for app in ("crispy_forms", "crispy_bootstrap5")
        if not apps.is_installed(app)
    ]
    if not getattr(settings, "CRISPY_TEMPLATE_PACK", None):
        problems.append(gettext("CRISPY_TEMPLATE_PACK is not set"))
    if "bootstrap5" not in getattr(settings, "CRISPY_ALLOWED_TEMPLATE_PACKS", ()):
        problems.append(gettext("CRISPY_ALLOWED_TEMPLATE_PACKS does not include 'bootstrap5'"))
    if not problems:
        return []
    return [
        check_message(
            "W004",
            gettext(
                "The Slack rule pages (django_slack_rules.urls) cannot render their forms: "
                "%(problems)s."
            )
            % {"problems": "; ".join(problems)},
            gettext(
                'Add "crispy_forms" and "crispy_bootstrap5" to INSTALLED_APPS and set '
                'CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5" and CRISPY_TEMPLATE_PACK = '
                '"bootstrap5" (see docs/ui.md).'
            ),
        )
    ]


def _check_gateway_mode() -> list[checks.CheckMessage]:
    if slack_rules_settings.GATEWAY_MODE in GATEWAY_MODES:
        return []
    return [
        check_message(
            "E011",
            gettext('SLACK_RULES["GATEWAY_MODE"] = %(value)r is not a gateway mode.')
            % {"value": slack_rules_settings.get("GATEWAY_MODE")},
            gettext(
                'Use "webhook" (incoming webhooks, the default) or "bot" (a bot token: thread '
                "replies and updates), the mode the nginx gateway was rendered for "
                "(docs/gateway.md)."
            ),
        )
    ]


def _check_site_url() -> list[checks.CheckMessage]:
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
