"""What Alertmanager checks once the keys are read, when it loads ``alertmanager.yml``
(``config.Load`` and the ``UnmarshalYAML`` methods of 0.25): each integration's required
settings (its own or the global default), settings of which at most one may be given,
``group_by`` and the timing of routes, and the time intervals routes name.

The checks on matchers, receivers' names and the root route are made as the route tree is
built (``routes``, ``config``). What is not checked here: the syntax of URLs, e-mail
addresses, templates and time ranges, and the files named by ``*_file`` keys; run
``amtool check-config`` for those (docs/alertmanager.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .config import at
from .schema import ALERTMANAGER_VERSION
from .strict import refuse

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ZERO = re.compile(r"(0+(y|w|d|h|m|s|ms))*|0")


@dataclass(frozen=True)
class Needs:
    """One of ``keys`` must be set in the integration, or one of ``globals`` in ``global``;
    else Alertmanager stops with ``says``."""

    keys: tuple[str, ...]
    says: str
    globals: tuple[str, ...] = ()


NEEDS: dict[str, tuple[Needs, ...]] = {
    "slack_configs": (
        Needs(
            ("api_url", "api_url_file"),
            "no global Slack API URL set either inline or in a file",
            ("slack_api_url", "slack_api_url_file"),
        ),
    ),
    "email_configs": (
        Needs(("to",), "missing to address in email config"),
        Needs(("smarthost",), "no global SMTP smarthost set", ("smtp_smarthost",)),
        Needs(("from",), "no global SMTP from set", ("smtp_from",)),
    ),
    "pagerduty_configs": (
        Needs(
            ("routing_key", "routing_key_file", "service_key", "service_key_file"),
            "missing service or routing key in PagerDuty config",
        ),
    ),
    "opsgenie_configs": (
        Needs(
            ("api_key", "api_key_file"),
            "no global OpsGenie API Key set either inline or in a file",
            ("opsgenie_api_key", "opsgenie_api_key_file"),
        ),
    ),
    "wechat_configs": (
        Needs(("api_secret",), "no global Wechat ApiSecret set", ("wechat_api_secret",)),
        Needs(("corp_id",), "no global Wechat CorpID set", ("wechat_api_corp_id",)),
    ),
    "victorops_configs": (
        Needs(("routing_key",), "missing Routing key in VictorOps config"),
        Needs(
            ("api_key", "api_key_file"),
            "no global VictorOps API Key set",
            ("victorops_api_key", "victorops_api_key_file"),
        ),
    ),
    "webhook_configs": (Needs(("url",), "missing URL in webhook config"),),
    "pushover_configs": (
        Needs(("user_key",), "missing user key in Pushover config"),
        Needs(("token",), "missing token in Pushover config"),
    ),
    "sns_configs": (
        Needs(
            ("target_arn", "topic_arn", "phone_number"),
            "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config",
        ),
    ),
    "telegram_configs": (
        Needs(("bot_token",), "missing bot_token on telegram_config"),
        Needs(("chat_id",), "missing chat_id on telegram_config"),
    ),
    "discord_configs": (Needs(("webhook_url",), "no discord webhook URL provided"),),
    "webex_configs": (Needs(("room_id",), "missing room_id on webex_config"),),
}

#: Pairs of settings of which at most one may be given, by where they are.
AT_MOST_ONE: dict[str, tuple[tuple[str, str], ...]] = {
    "global": (
        ("slack_api_url", "slack_api_url_file"),
        ("opsgenie_api_key", "opsgenie_api_key_file"),
        ("victorops_api_key", "victorops_api_key_file"),
        ("smtp_auth_password", "smtp_auth_password_file"),
    ),
    "slack_configs": (("api_url", "api_url_file"),),
    "pagerduty_configs": (
        ("routing_key", "routing_key_file"),
        ("service_key", "service_key_file"),
    ),
    "opsgenie_configs": (("api_key", "api_key_file"),),
    "victorops_configs": (("api_key", "api_key_file"),),
}


def _set(mapping: object, key: str) -> bool:
    return isinstance(mapping, Mapping) and mapping.get(key) not in (None, "")


def _items(value: object) -> Sequence[object]:
    return value if isinstance(value, list) else []


def _says(text: str) -> str:
    return f'Alertmanager {ALERTMANAGER_VERSION} stops with "{text}"'


def check_values(config: Mapping[str, object], source: str = "") -> None:
    """Raise :class:`~.config.AlertmanagerConfigError` for what Alertmanager refuses once
    the keys are read (the structure is checked first: :func:`~.strict.check_structure`)."""
    problems: list[str] = []
    global_ = config.get("global")
    global_ = global_ if isinstance(global_, Mapping) else {}
    _at_most_one(global_, "global", "global", problems)
    for i, receiver in enumerate(_items(config.get("receivers"))):
        if not isinstance(receiver, Mapping):
            continue
        name = receiver.get("name")
        where = f"receivers[{i}]" + (f" ({name!r})" if name else "")
        if not name:
            problems.append(
                f"{at(_items(config.get('receivers')), i)}{where} has no name "
                f"({_says('missing name in receiver')})"
            )
        for kind, needs in NEEDS.items():
            for j, integration in enumerate(_items(receiver.get(kind))):
                place = f"{where}.{kind}[{j}]"
                _at_most_one(integration, kind, place, problems)
                for need in needs:
                    given = any(_set(integration, key) for key in need.keys)
                    if not given and not any(_set(global_, key) for key in need.globals):
                        also = f" (or global.{need.globals[0]})" if need.globals else ""
                        problems.append(
                            f"{at(receiver[kind], j)}{place}: set {' or '.join(need.keys)}"
                            f"{also} ({_says(need.says)})"
                        )
    _check_intervals(config, problems)
    route = config.get("route")
    if isinstance(route, Mapping):
        _check_routes(route, "route", problems)
    refuse(problems, source)


def _at_most_one(mapping: object, kind: str, where: str, problems: list[str]) -> None:
    for first, second in AT_MOST_ONE.get(kind, ()):
        if _set(mapping, first) and _set(mapping, second):
            problems.append(
                f"{at(mapping, second)}{where}: give {first} or {second}, not both "
                f"({_says(f'at most one of {first} & {second} must be configured')})"
            )


def _check_intervals(config: Mapping[str, object], problems: list[str]) -> None:
    """Time interval names are unique, and routes name only those that exist."""
    names: set[str] = set()
    for key in ("mute_time_intervals", "time_intervals"):
        intervals = _items(config.get(key))
        for i, interval in enumerate(intervals):
            name = interval.get("name") if isinstance(interval, Mapping) else None
            label = "mute time interval" if key == "mute_time_intervals" else "time interval"
            if not name:
                problems.append(
                    f"{at(intervals, i)}{key}[{i}] has no name ({_says(f'missing name in {label}')})"
                )
            elif name in names:
                problems.append(
                    f"{at(intervals, i)}{key}[{i}]: the name {name!r} is used twice "
                    f"({_says(f'{label} {chr(34)}{name}{chr(34)} is not unique')})"
                )
            else:
                names.add(name)
    route = config.get("route")
    stack = [(route, "route")] if isinstance(route, Mapping) else []
    while stack:
        node, where = stack.pop()
        for key in ("mute_time_intervals", "active_time_intervals"):
            for used in _items(node.get(key)):
                if used not in names:
                    problems.append(
                        f"{at(node, key)}{where}.{key}: no time interval named {used!r} "
                        f"({_says(f'undefined time interval {chr(34)}{used}{chr(34)} used in route')})"
                    )
        for i, child in enumerate(_items(node.get("routes"))):
            if isinstance(child, Mapping):
                stack.append((child, f"{where}.routes[{i}]"))


def _check_routes(route: Mapping[str, object], where: str, problems: list[str]) -> None:
    """``group_by`` and the timing of each route, as ``Route.UnmarshalYAML`` checks them."""
    group_by = [str(name) for name in _items(route.get("group_by"))]
    for name in group_by:
        if name != "..." and not _LABEL_NAME.fullmatch(name):
            said = _says(f"invalid label name {chr(34)}{name}{chr(34)} in group_by list")
            problems.append(f"{at(route, 'group_by')}{where}.group_by: {name!r} ({said})")
    if "..." in group_by and len(group_by) > 1:
        said = _says(
            "cannot have wildcard group_by (`...`) and other other labels at the same time"
        )
        problems.append(f"{at(route, 'group_by')}{where}.group_by: '...' alone ({said})")
    seen: set[str] = set()
    for name in group_by:
        if name in seen and name != "...":
            said = _says(f"duplicated label {chr(34)}{name}{chr(34)} in group_by")
            problems.append(f"{at(route, 'group_by')}{where}.group_by: {name!r} twice ({said})")
        seen.add(name)
    for key in ("group_interval", "repeat_interval"):
        value = route.get(key)
        if isinstance(value, str) and value and _ZERO.fullmatch(value):
            said = _says(f"{key} cannot be zero")
            problems.append(f"{at(route, key)}{where}.{key}: {value!r} ({said})")
    for i, child in enumerate(_items(route.get("routes"))):
        if isinstance(child, Mapping):
            _check_routes(child, f"{where}.routes[{i}]", problems)
