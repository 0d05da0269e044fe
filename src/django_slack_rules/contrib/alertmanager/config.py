"""Reading an ``alertmanager.yml``: its YAML with every scalar a string and every key's line
kept, the values checked as Alertmanager reads them, and the receivers by name. Each error
names the place (and the line, when the YAML was read here) and the fix.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from yaml import SafeLoader
    from yaml.nodes import MappingNode, SequenceNode

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
    The message names the place (``line 12: route.routes[1].matchers[0]``) and the fix;
    ``problems`` holds one line per problem when several were found at once."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [message]


class YamlMap(dict):  # type: ignore[type-arg,unused-ignore]
    """A YAML mapping that remembers its line and each key's (1-based, as Go prints them)."""

    line: int = 0
    key_lines: dict[str, int]

    def __init__(self) -> None:
        super().__init__()
        self.key_lines = {}


class YamlList(list):  # type: ignore[type-arg,unused-ignore]
    """A YAML sequence that remembers its line and each item's."""

    line: int = 0
    item_lines: list[int]

    def __init__(self) -> None:
        super().__init__()
        self.item_lines = []


#: A key of a YAML mapping (a str) or an index in a YAML list.
Key = Union[str, int, None]


def line_of(container: object, key: Key = None) -> int:
    """The line of ``container[key]`` (of the container itself without a key); 0: unknown."""
    if isinstance(container, YamlMap):
        return (
            container.key_lines.get(key, container.line) if isinstance(key, str) else container.line
        )
    if isinstance(container, YamlList):
        if isinstance(key, int) and 0 <= key < len(container.item_lines):
            return container.item_lines[key]
        return container.line
    return 0


def at(container: object, key: Key = None) -> str:
    """``"line 12: "`` for ``container[key]``, or ``""`` when the line is unknown."""
    line = line_of(container, key)
    return f"line {line}: " if line else ""


class MissingDependency(ImportError):
    """PyYAML is not installed."""


def _yaml() -> ModuleType:
    try:
        import yaml
    except ImportError as exc:
        raise MissingDependency(
            f"Reading an Alertmanager configuration needs PyYAML: {PIP_COMMAND}"
        ) from exc
    return yaml


def load_config(text: str, *, source: str = "the configuration") -> dict[str, object]:
    """Parse Alertmanager's YAML. Every scalar stays a string (as Go reads them into
    string fields: ``match: {code: 500}`` is ``"500"``, not a number)."""
    yaml = _yaml()

    try:
        data = yaml.load(text, Loader=_string_loader())
    except yaml.YAMLError as exc:
        raise AlertmanagerConfigError(f"{source} is not valid YAML: {exc}") from exc
    except AlertmanagerConfigError as exc:  # a key given twice
        raise AlertmanagerConfigError(
            f"{source} is not a configuration Alertmanager loads: {exc}\nNothing was imported."
        ) from None
    if not isinstance(data, dict):
        raise AlertmanagerConfigError(
            f"{source} is not an Alertmanager configuration: expected a mapping with "
            "'route' and 'receivers' at the top"
        )
    return data


def _string_loader() -> type[SafeLoader]:
    """A SafeLoader that reads every scalar as a string (only the merge key ``<<`` is
    resolved: no ints, floats, booleans or nulls), builds :class:`YamlMap` and
    :class:`YamlList` with their lines, and refuses a key given twice, as Go's strict
    unmarshalling does."""

    from yaml import SafeLoader  # load_config() has imported it (or said how to install it)

    class StringLoader(SafeLoader):
        yaml_implicit_resolvers = {
            first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith(":merge")]
            for first, resolvers in SafeLoader.yaml_implicit_resolvers.items()
        }

        def construct_yaml_map(self, node: MappingNode) -> Generator[YamlMap, None, None]:
            data = YamlMap()
            data.line = node.start_mark.line + 1
            yield data
            seen: dict[str, int] = {}
            for key_node, _ in node.value:
                key = key_node.value
                if key_node.tag.endswith(":merge") or not isinstance(key, str):
                    continue  # a merge, or a key the constructor refuses
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise AlertmanagerConfigError(
                        f"line {line}: the key {key!r} is given twice in one mapping (first on "
                        f'line {seen[key]}): Alertmanager refuses the file ("line {line}: '
                        f'field {key} already set"); keep one of them'
                    )
                seen[key] = line
            data.update(self.construct_mapping(node))
            self.flatten_mapping(node)
            for key_node, _ in node.value:
                data.key_lines.setdefault(key_node.value, key_node.start_mark.line + 1)
            data.key_lines.update(seen)

        def construct_yaml_seq(self, node: SequenceNode) -> Generator[YamlList, None, None]:
            data = YamlList()
            data.line = node.start_mark.line + 1
            yield data
            data.extend(self.construct_sequence(node))
            data.item_lines = [item.start_mark.line + 1 for item in node.value]

    StringLoader.add_constructor("tag:yaml.org,2002:map", StringLoader.construct_yaml_map)
    StringLoader.add_constructor("tag:yaml.org,2002:seq", StringLoader.construct_yaml_seq)
    return StringLoader


def _mapping(value: object, where: str) -> Mapping[str, object]:
    if value is None or value == "":
        return {}
    if not isinstance(value, Mapping):
        raise AlertmanagerConfigError(f"{where} must be a mapping")
    return value


def _sequence(value: object, where: str) -> Sequence[object]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise AlertmanagerConfigError(f"{where} must be a list")
    return value


def _string(value: object, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AlertmanagerConfigError(f"{where} must be a string")
    return value


def _bool(value: object, where: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _GO_BOOL:
        return _GO_BOOL[value]
    raise AlertmanagerConfigError(f"{where} must be true or false, not {value!r}")


def _receivers(config: Mapping[str, object]) -> dict[str, Mapping[str, object]]:
    found: dict[str, Mapping[str, object]] = {}
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
