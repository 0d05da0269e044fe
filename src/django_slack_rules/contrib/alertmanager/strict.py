"""Refusing what Alertmanager refuses when it unmarshals ``alertmanager.yml``: a key no
struct names (a typo such as ``slack_config:`` would otherwise leave a team's alerts going
nowhere, silently), a value of the wrong shape, a boolean, duration or number it cannot
read. Every problem is collected, each with its line, the key, and what Alertmanager says.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

from .config import _GO_BOOL, AlertmanagerConfigError, Key, at, line_of
from .schema import (
    ALERTMANAGER_VERSION,
    ANY,
    BOOL,
    CONFIG,
    DURATION,
    INT,
    Kind,
    ListOf,
    MapOf,
    Struct,
)

# prometheus/common's model.ParseDuration (the version Alertmanager 0.25 uses).
_DURATION = re.compile(
    r"(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?|0"
)
_INT = re.compile(r"[-+]?[0-9]+")


def refuse(problems: list[str], source: str) -> None:
    """Raise one :class:`AlertmanagerConfigError` listing ``problems``, if there are any."""
    if not problems:
        return
    where = source or "the configuration"
    if len(problems) == 1:
        message = f"{where} is not a configuration Alertmanager loads: {problems[0]}"
    else:
        lines = "\n".join(f"  {problem}" for problem in problems)
        message = (
            f"{where} is not a configuration Alertmanager loads ({len(problems)} problems):"
            f"\n{lines}"
        )
    raise AlertmanagerConfigError(message + "\nNothing was imported.", problems)


def check_structure(config: Mapping[str, object], source: str = "") -> None:
    """Raise :class:`AlertmanagerConfigError` naming every key Alertmanager would not read
    and every value of a shape it cannot unmarshal, each with its line when known."""
    problems: list[str] = []
    _check(config, CONFIG, "", None, None, problems)
    refuse(problems, source)


def _tag(value: object) -> str:
    if isinstance(value, Mapping):
        return "!!map"
    if isinstance(value, list):
        return "!!seq"
    return f"!!str `{value}`"


def _says(container: object, key: Key, text: str) -> str:
    line = line_of(container, key)
    return f'Alertmanager {ALERTMANAGER_VERSION} says "{f"line {line}: " if line else ""}{text}"'


def _join(where: str, key: Key) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def _check(
    value: object, kind: Kind, where: str, container: object, key: Key, problems: list[str]
) -> None:
    """Check ``value`` (``container[key]``, at ``where``) against ``kind``."""
    if value is None or value == "" or kind == ANY:
        return  # null: the zero value, as Go reads it
    place = at(container, key)
    if isinstance(kind, Struct):
        if not isinstance(value, Mapping):
            problems.append(
                f"{place}{where or 'the file'} must be a mapping, not {_tag(value).split()[0]} "
                f"({_says(container, key, f'cannot unmarshal {_tag(value)} into {kind.go}')})"
            )
            return
        for name, item in value.items():
            if name not in kind.fields:
                problems.append(_unknown(value, name, where, kind))
            else:
                _check(item, kind.fields[name], _join(where, name), value, name, problems)
        return
    if isinstance(kind, ListOf):
        if isinstance(value, list):
            for i, item in enumerate(value):
                _check(item, kind.item, _item_place(where, i, item), value, i, problems)
        else:
            problems.append(_wrong_shape(value, "a list", kind.go, where, container, key))
        return
    if isinstance(kind, MapOf):
        if isinstance(value, Mapping):
            for name, item in value.items():
                _check(item, kind.value, _join(where, name), value, name, problems)
        else:
            problems.append(_wrong_shape(value, "a mapping", kind.go, where, container, key))
        return
    _check_scalar(value, kind, where, container, key, problems)


def _wrong_shape(
    value: object, shape: str, go: str, where: str, container: object, key: Key
) -> str:
    """The problem of ``value``, which is not ``shape`` (``a list``, ``a mapping``)."""
    said = _says(container, key, f"cannot unmarshal {_tag(value)} into {go}")
    return f"{at(container, key)}{where} must be {shape}, not {_tag(value).split()[0]} ({said})"


def _item_place(where: str, i: int, item: object) -> str:
    """``receivers[3]``, with the receiver's name when it has one: ``receivers[3] ('db')``."""
    name = item.get("name") if isinstance(item, Mapping) else None
    suffix = f" ({name!r})" if where == "receivers" and isinstance(name, str) and name else ""
    return f"{where}[{i}]{suffix}"


def _check_scalar(
    value: object, kind: str, where: str, container: object, key: Key, problems: list[str]
) -> None:
    place = at(container, key)
    if not isinstance(value, str):
        problems.append(
            f"{place}{where} must be a single value, not {_tag(value)} "
            f"({_says(container, key, f'cannot unmarshal {_tag(value)} into {kind}')})"
        )
    elif kind == BOOL and value not in _GO_BOOL:
        problems.append(
            f"{place}{where} must be true or false, not {value!r} "
            f"({_says(container, key, f'cannot unmarshal {_tag(value)} into bool')})"
        )
    elif kind == DURATION and not _DURATION.fullmatch(value):
        problems.append(
            f"{place}{where}: {value!r} is not a duration such as 30s, 5m or 4h "
            f"({_says(None, None, f'not a valid duration string: {chr(34)}{value}{chr(34)}')})"
        )
    elif kind == INT and not _INT.fullmatch(value):
        problems.append(
            f"{place}{where} must be a whole number, not {value!r} "
            f"({_says(container, key, f'cannot unmarshal {_tag(value)} into {kind}')})"
        )


def _unknown(mapping: Mapping[str, object], name: Key, where: str, kind: Struct) -> str:
    close = difflib.get_close_matches(str(name), list(kind.fields), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; {_known(kind)}"
    line = line_of(mapping, name)
    said = f"line {line}: " if line else ""
    return (
        f"{at(mapping, name)}{where or 'the top level'}: unknown key {name!r}{hint} "
        f'(Alertmanager {ALERTMANAGER_VERSION} refuses the file: "{said}field {name} not '
        f'found in type {kind.plain}")'
    )


def _known(kind: Struct) -> str:
    names = sorted(kind.fields)
    shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
    return f"the keys Alertmanager {ALERTMANAGER_VERSION} reads here are {shown}"
