"""Reading one matcher's text as Alertmanager's classic parser does, and what both of its
parsers share (the operators, the errors about a name or a missing operator); the UTF-8 parser
is :mod:`.utf8`."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import _Failure
from .matcher import (
    _CLASSIC_NAME,
    _CLASSIC_SPACE,
    _EXAMPLE,
    EQUAL,
    NOT_EQUAL,
    NOT_REGEX,
    OPERATORS_TEXT,
    REGEX,
    _escape_value,
    _format_parts,
    is_classic_label_name,
)
from .regex import _quote


@dataclass
class _Parsed:
    name: str
    op: str
    value: str
    value_start: int
    positions: list[int]  # text offset of each value character


def _read_operator(text: str, i: int) -> str | None:
    for op in (REGEX, NOT_EQUAL, NOT_REGEX, EQUAL):  # =~ before =
        if text.startswith(op, i):
            return op
    return None


def _preview(text: str, i: int) -> str:
    rest = text[i : i + 12]
    return f"{_quote(rest)}{'…' if len(text) - i > 12 else ''}"


def _missing_operator(text: str, name: str, i: int) -> _Failure:
    where = f"after the label name {_quote(name)} at position {i}"
    found = "but the matcher ends there" if i >= len(text) else f"found {_preview(text, i)}"
    fix_name = name if is_classic_label_name(name) else f'"{_escape_value(name)}"'
    return _Failure(
        i, f'expected one of {OPERATORS_TEXT} {where}, {found}; write e.g. {fix_name}="value"'
    )


def _bad_name(text: str, i: int) -> _Failure:
    if i >= len(text):
        return _Failure(
            i, f"the matcher is empty; write a label name, an operator and a value, e.g. {_EXAMPLE}"
        )
    return _Failure(
        i,
        f"expected a label name at position {i}, found {_preview(text, i)}; a label name is "
        'letters, digits, "_" and ":", or any text in double quotes, e.g. '
        '"service.name"="api"',
    )


def _parse_classic(text: str) -> _Parsed | _Failure:
    """Alertmanager's classic parser (pkg/labels.ParseMatcher), with positions."""
    n = len(text)
    i = 0
    while i < n and text[i] in _CLASSIC_SPACE:
        i += 1
    found = _CLASSIC_NAME.match(text, i)
    if found is None:
        return _bad_name(text, i)
    name = found.group()
    i = found.end()
    while i < n and text[i] in _CLASSIC_SPACE:
        i += 1
    op = _read_operator(text, i)
    if op is None:
        return _missing_operator(text, name, found.end())
    op_end = i + len(op)
    i = op_end
    while i < n and text[i] in _CLASSIC_SPACE:
        i += 1
    end = n
    while end > i and text[end - 1] in _CLASSIC_SPACE:
        end -= 1
    value, positions, failure = _classic_value(text, i, end, name, op)
    if failure is not None:
        return failure
    return _Parsed(name, op, value, i, positions)


def _classic_value(
    text: str, start: int, end: int, name: str, op: str
) -> tuple[str, list[int], _Failure | None]:
    """OpenMetrics unescaping as the classic parser does it: ``\\"``, ``\\\\`` and ``\\n``;
    a backslash before anything else (or at the end) is literal."""
    quoted = start < end and text[start] == '"'
    i = start + 1 if quoted else start
    out: list[str] = []
    positions: list[int] = []
    closed = False
    while i < end:
        char = text[i]
        if char == "\\" and i < end - 1:
            following = text[i + 1]
            if following == "n":
                out.append("\n")
                positions.append(i)
            elif following in '"\\':
                out.append(following)
                positions.append(i)
            else:
                out += ["\\", following]
                positions += [i, i + 1]
            i += 2
            continue
        if char == '"':
            if quoted and i == end - 1:
                closed = True
                i += 1
                continue
            fix = _quote_stray(text, start, end, name, op)
            return (
                "",
                [],
                _Failure(
                    i,
                    f'unescaped double quote at position {i} in the value; write \\" for a quote '
                    f"inside a value, and put the whole value in double quotes: {fix}",
                ),
            )
        if char == "," and not quoted:
            return (
                "",
                [],
                _Failure(
                    i,
                    f'a "," at position {i} in an unquoted value: put each matcher in its own '
                    f"entry, or quote the value if the comma is part of it: "
                    f"{_format_parts(name, op, text[start:end])[0]}",
                ),
            )
        out.append(char)
        positions.append(i)
        i += 1
    if quoted and not closed:
        return (
            "",
            [],
            _Failure(
                start,
                f"the value opened with a double quote at position {start} has no closing quote; "
                f'end it with ": {text[:end]}"',
            ),
        )
    return "".join(out), positions, None


def _quote_stray(text: str, start: int, end: int, name: str, op: str) -> str:
    """The matcher with the value's stray quotes escaped and the value quoted."""
    body = text[start:end]
    if body.startswith('"') and body.endswith('"') and len(body) >= 2:
        body = body[1:-1]
    escaped = []
    backslash = False
    for char in body:
        if char == '"' and not backslash:
            escaped.append('\\"')
        else:
            escaped.append(char)
        backslash = char == "\\" and not backslash
    shown_name = name if is_classic_label_name(name) else f'"{_escape_value(name)}"'
    return f'{shown_name}{op}"{"".join(escaped)}"'
