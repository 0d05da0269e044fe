"""Reading an ``alertmanager.yml``: its YAML with every scalar a string, the values checked
as Alertmanager reads them, and the receivers by name. Each error names the place and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PIP_COMMAND = 'pip install "django-slack-rules[alertmanager]"'
_GO_BOOL = {
    **dict.fromkeys(
        ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True
    ),
    **dict.fromkeys(
        ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False
    ),
}


class AlertmanagerConfigError(ValueError):
    """The configuration cannot be read, or is not one Alertmanager would load.
    The message names the place (``route.routes[1].matchers[0]``) and the fix."""


class MissingDependency(ImportError):
    """PyYAML is not installed."""


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise MissingDependency(
            f"Reading an Alertmanager configuration needs PyYAML: {PIP_COMMAND}"
        ) from exc
    return yaml


def load_config(text: str, *, source: str = "the configuration") -> dict[str, Any]:
    """Parse Alertmanager's YAML. Every scalar stays a string (as Go reads them into
    string fields: ``match: {code: 500}`` is ``"500"``, not a number)."""
    yaml = _yaml()

    # Only the merge key (<<) is resolved implicitly: no ints, floats, booleans or nulls.
    StringLoader: Any = type("StringLoader", (yaml.SafeLoader,), {})
    StringLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith(":merge")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    try:
        data = yaml.load(text, Loader=StringLoader)
    except yaml.YAMLError as exc:
        raise AlertmanagerConfigError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise AlertmanagerConfigError(
            f"{source} is not an Alertmanager configuration: expected a mapping with "
            "'route' and 'receivers' at the top"
        )
    return data


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None or value == "":
        return {}
    if not isinstance(value, Mapping):
        raise AlertmanagerConfigError(f"{where} must be a mapping")
    return value


def _sequence(value: Any, where: str) -> Sequence[Any]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise AlertmanagerConfigError(f"{where} must be a list")
    return value


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AlertmanagerConfigError(f"{where} must be a string")
    return value


def _bool(value: Any, where: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _GO_BOOL:
        return _GO_BOOL[value]
    raise AlertmanagerConfigError(f"{where} must be true or false, not {value!r}")


def _receivers(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for i, raw in enumerate(_sequence(config.get("receivers"), "receivers")):
        if not isinstance(raw, Mapping):
            raise AlertmanagerConfigError(f"receivers[{i}] must be a mapping")
        name = _string(raw.get("name"), f"receivers[{i}].name")
        if not name:
            raise AlertmanagerConfigError(f"receivers[{i}] has no name")
        if name in found:
            raise AlertmanagerConfigError(
                f"receivers[{i}]: the receiver name {name!r} is used twice"
            )
        found[name] = raw
    return found
