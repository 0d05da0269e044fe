"""Every key Alertmanager reads, mapping by mapping: the structs it unmarshals
``alertmanager.yml`` into, written out as data.

Alertmanager unmarshals strictly (``yaml.UnmarshalStrict``): a key no struct field names is
an error (``line 7: field contine not found in type config.plain``), and so is a key given
twice. The import follows the strictness of **Alertmanager 0.25** as Debian 12 builds it
(``prometheus-alertmanager`` 0.25.0, with prometheus/common's HTTP client configuration of
v0.39 to v0.41, sigv4 v0.1.0), whose ``amtool`` the tests run: its ``config/config.go``,
``config/notifiers.go`` and ``timeinterval/timeinterval.go``. Later versions add keys
(``webhook_configs[].url_file``, ``msteams_configs``, ``http_config.proxy_from_environment``,
…); a file that uses them is refused here as it is by 0.25 (the message says so).

``tests/alertmanager_configs/every_key.yml`` sets every key listed here, and a test checks
that amtool loads it, so the list cannot name a key Alertmanager 0.25 refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

#: The Alertmanager version whose strictness the import follows.
ALERTMANAGER_VERSION = "0.25"

# Scalars, by what Alertmanager parses them into (the name in its error messages).
STRING = "string"
BOOL = "bool"
DURATION = "model.Duration"
INT = "int"
#: A value whose shape the import does not check (Alertmanager's own parser does).
ANY = "any"


@dataclass(frozen=True)
class Struct:
    """A mapping with a fixed set of keys. ``go`` names the type in "cannot unmarshal"
    messages, ``plain`` in "field … not found in type …" ones (``config.plain`` when the Go
    type unmarshals itself through a ``plain`` alias, as most of Alertmanager's do)."""

    go: str
    fields: Mapping[str, Kind]
    plain: str = "config.plain"


@dataclass(frozen=True)
class ListOf:
    item: Kind
    go: str


@dataclass(frozen=True)
class MapOf:
    """A mapping with keys of the user's choice (labels, headers, details)."""

    value: Kind
    go: str = "map[string]string"


Kind = Union[str, Struct, ListOf, MapOf]

STRINGS = ListOf(STRING, "[]string")
STRING_MAP = MapOf(STRING)


def _struct(go: str, strings: str = "", plain: str = "config.plain", **fields: Kind) -> Struct:
    """A struct whose ``strings`` (space-separated) are string fields, and ``fields`` the rest."""
    return Struct(go, {**dict.fromkeys(strings.split(), STRING), **fields}, plain)


TLS_CONFIG = _struct(
    "config.TLSConfig",
    "ca_file cert_file key_file server_name min_version max_version",
    insecure_skip_verify=BOOL,
)
HTTP_CONFIG = _struct(
    "config.HTTPClientConfig",
    "bearer_token bearer_token_file proxy_url",
    basic_auth=_struct("config.BasicAuth", "username password password_file"),
    authorization=_struct(
        "config.Authorization", "type credentials credentials_file", "config.Authorization"
    ),
    oauth2=_struct(
        "config.OAuth2",
        "client_id client_secret client_secret_file token_url proxy_url",
        "config.OAuth2",
        scopes=STRINGS,
        endpoint_params=STRING_MAP,
        tls_config=TLS_CONFIG,
    ),
    proxy_connect_header=MapOf(ListOf(STRING, "[]config.Secret"), "config.Header"),
    tls_config=TLS_CONFIG,
    follow_redirects=BOOL,
    enable_http2=BOOL,
)


def _integration(go: str, strings: str, *, http: bool = True, **fields: Kind) -> ListOf:
    """A list of one receiver integration: ``send_resolved``, ``http_config`` (all but
    e-mail) and its own fields."""
    common: dict[str, Kind] = {"send_resolved": BOOL}
    if http:
        common["http_config"] = HTTP_CONFIG
    item = Struct(f"config.{go}", {**dict.fromkeys(strings.split(), STRING), **common, **fields})
    return ListOf(item, f"[]*config.{go}")


def _list(item: Struct, pointer: bool = False) -> ListOf:
    return ListOf(item, f"[]{'*' if pointer else ''}{item.go}")


SLACK_ACTION = _struct(
    "config.SlackAction",
    "type text url style name value",
    confirm=_struct("config.SlackConfirmationField", "text title ok_text dismiss_text"),
)
SLACK_CONFIGS = _integration(
    "SlackConfig",
    "api_url api_url_file channel username color title title_link pretext text footer "
    "fallback callback_id icon_emoji icon_url image_url thumb_url",
    fields=_list(_struct("config.SlackField", "title value", short=BOOL), pointer=True),
    short_fields=BOOL,
    link_names=BOOL,
    mrkdwn_in=STRINGS,
    actions=_list(SLACK_ACTION, pointer=True),
)

RECEIVER = _struct(
    "config.Receiver",
    "name",
    discord_configs=_integration("DiscordConfig", "webhook_url title message"),
    email_configs=_integration(
        "EmailConfig",
        "to from hello smarthost auth_username auth_password auth_password_file auth_secret "
        "auth_identity html text",
        http=False,
        headers=STRING_MAP,
        require_tls=BOOL,
        tls_config=TLS_CONFIG,
    ),
    pagerduty_configs=_integration(
        "PagerdutyConfig",
        "service_key service_key_file routing_key routing_key_file url client client_url "
        "description source severity class component group",
        details=STRING_MAP,
        images=_list(_struct("config.PagerdutyImage", "src alt href", "config.PagerdutyImage")),
        links=_list(_struct("config.PagerdutyLink", "href text", "config.PagerdutyLink")),
    ),
    slack_configs=SLACK_CONFIGS,
    webhook_configs=_integration("WebhookConfig", "url", max_alerts=INT),
    opsgenie_configs=_integration(
        "OpsGenieConfig",
        "api_key api_key_file api_url message description source entity actions tags note priority",
        details=STRING_MAP,
        responders=_list(
            _struct(
                "config.OpsGenieConfigResponder",
                "id name username type",
                "config.OpsGenieConfigResponder",
            )
        ),
        update_alerts=BOOL,
    ),
    wechat_configs=_integration(
        "WechatConfig",
        "api_secret corp_id message api_url to_user to_party to_tag agent_id message_type",
    ),
    pushover_configs=_integration(
        "PushoverConfig",
        "user_key token title message url url_title sound priority retry expire",
        html=BOOL,
    ),
    victorops_configs=_integration(
        "VictorOpsConfig",
        "api_key api_key_file api_url routing_key message_type state_message "
        "entity_display_name monitoring_tool",
        custom_fields=STRING_MAP,
    ),
    sns_configs=_integration(
        "SNSConfig",
        "api_url topic_arn phone_number target_arn subject message",
        sigv4=_struct(
            "sigv4.SigV4Config", "region access_key secret_key profile role_arn", "sigv4.plain"
        ),
        attributes=STRING_MAP,
    ),
    telegram_configs=_integration(
        "TelegramConfig",
        "api_url bot_token message parse_mode",
        chat_id=INT,
        disable_notifications=BOOL,
    ),
    webex_configs=_integration("WebexConfig", "api_url message room_id"),
)

ROUTE_FIELDS: dict[str, Kind] = {
    "receiver": STRING,
    "group_by": STRINGS,
    "match": STRING_MAP,
    "match_re": MapOf(STRING, "config.MatchRegexps"),
    "matchers": ListOf(STRING, "config.Matchers"),
    "mute_time_intervals": STRINGS,
    "active_time_intervals": STRINGS,
    "continue": BOOL,
    "group_wait": DURATION,
    "group_interval": DURATION,
    "repeat_interval": DURATION,
    # "routes" (a list of routes) is added below: the struct refers to itself.
}
ROUTE = Struct("config.Route", ROUTE_FIELDS)
ROUTE_FIELDS["routes"] = _list(ROUTE, pointer=True)

TIME_INTERVAL = _struct(
    "timeinterval.TimeInterval",
    "location",
    "timeinterval.TimeInterval",
    times=_list(
        _struct("timeinterval.TimeRange", "start_time end_time", "timeinterval.yamlTimeRange")
    ),
    weekdays=ListOf(STRING, "[]timeinterval.WeekdayRange"),
    days_of_month=ListOf(STRING, "[]timeinterval.DayOfMonthRange"),
    months=ListOf(STRING, "[]timeinterval.MonthRange"),
    years=ListOf(STRING, "[]timeinterval.YearRange"),
)
_NAMED_INTERVALS = _struct("config.TimeInterval", "name", time_intervals=_list(TIME_INTERVAL))

GLOBAL = _struct(
    "config.GlobalConfig",
    "smtp_from smtp_hello smtp_smarthost smtp_auth_username smtp_auth_password "
    "smtp_auth_password_file smtp_auth_secret smtp_auth_identity slack_api_url "
    "slack_api_url_file pagerduty_url opsgenie_api_url opsgenie_api_key opsgenie_api_key_file "
    "wechat_api_url wechat_api_secret wechat_api_corp_id victorops_api_url victorops_api_key "
    "victorops_api_key_file telegram_api_url webex_api_url",
    resolve_timeout=DURATION,
    http_config=HTTP_CONFIG,
    smtp_require_tls=BOOL,
)

_MATCH_RE = MapOf(STRING, "config.MatchRegexps")
_MATCHERS = ListOf(STRING, "config.Matchers")
INHIBIT_RULE = _struct(
    "config.InhibitRule",
    source_match=STRING_MAP,
    source_match_re=_MATCH_RE,
    source_matchers=_MATCHERS,
    target_match=STRING_MAP,
    target_match_re=_MATCH_RE,
    target_matchers=_MATCHERS,
    equal=ListOf(STRING, "model.LabelNames"),
)
CONFIG = Struct(
    "config.Config",
    {
        "global": GLOBAL,
        "route": ROUTE,
        "inhibit_rules": _list(INHIBIT_RULE, pointer=True),
        "receivers": _list(RECEIVER, pointer=True),
        "templates": STRINGS,
        "mute_time_intervals": ListOf(_NAMED_INTERVALS, "[]config.MuteTimeInterval"),
        "time_intervals": ListOf(_NAMED_INTERVALS, "[]config.TimeInterval"),
    },
)
