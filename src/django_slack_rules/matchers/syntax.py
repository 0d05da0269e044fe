"""Reading one matcher's text as Alertmanager does: its classic parser, then its UTF-8 one."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import _Failure
from .matcher import (
    _CLASSIC_NAME,
    _CLASSIC_SPACE,
    _EXAMPLE,
    _GO_SPACE,
    EQUAL,
    NOT_EQUAL,
    NOT_REGEX,
    OPERATORS_TEXT,
    REGEX,
    _escape_value,
    _format_parts,
    _is_reserved,
    is_classic_label_name,
)
from .regex import _quote

# ---------------------------------------------------------------------------- parsing


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


_GO_SIMPLE_ESCAPES = {
    "a": 0x07,
    "b": 0x08,
    "f": 0x0C,
    "n": 0x0A,
    "r": 0x0D,
    "t": 0x09,
    "v": 0x0B,
    "\\": 0x5C,
    '"': 0x22,
}


def _go_unquote(text: str, start: int, end: int, what: str) -> tuple[str, list[int]] | _Failure:
    """A Go double-quoted string literal ``text[start:end]`` (quotes included), as Go's
    ``strconv.Unquote`` reads it, with the text offset of each character."""
    data = bytearray()
    origins: list[int] = []  # text offset of each byte
    i = start + 1
    last = end - 1
    while i < last:
        char = text[i]
        if char == "\n":
            return _Failure(i, f"a line break at position {i} in a quoted {what}; write \\n")
        if char != "\\":
            encoded = char.encode("utf-8", "surrogatepass")
            data += encoded
            origins += [i] * len(encoded)
            i += 1
            continue
        kind = text[i + 1] if i + 1 < last else ""
        if kind in _GO_SIMPLE_ESCAPES:
            data.append(_GO_SIMPLE_ESCAPES[kind])
            origins.append(i)
            i += 2
            continue
        digits = {"x": 2, "u": 4, "U": 8}.get(kind)
        if digits is not None:
            code = text[i + 2 : i + 2 + digits]
            if len(code) != digits or not all(c in "0123456789abcdefABCDEF" for c in code):
                return _bad_escape(text, i, last, what)
            number = int(code, 16)
            if kind == "x":
                data.append(number)
                origins.append(i)
            else:
                if 0xD800 <= number <= 0xDFFF or number > 0x10FFFF:
                    return _bad_escape(text, i, last, what)
                encoded = chr(number).encode("utf-8")
                data += encoded
                origins += [i] * len(encoded)
            i += 2 + digits
            continue
        if kind in "01234567" and kind:
            code = text[i + 1 : i + 4]
            if len(code) != 3 or not all(c in "01234567" for c in code) or int(code, 8) > 255:
                return _bad_escape(text, i, last, what)
            data.append(int(code, 8))
            origins.append(i)
            i += 4
            continue
        return _bad_escape(text, i, last, what)
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Failure(
            origins[exc.start],
            f"the quoted {what} is not valid UTF-8 at position {origins[exc.start]}",
        )
    positions = []
    offset = 0
    for char in value:
        positions.append(origins[offset])
        offset += len(char.encode("utf-8", "surrogatepass"))
    return value, positions


def _bad_escape(text: str, i: int, last: int, what: str) -> _Failure:
    shown = text[i : min(i + 2, last)]
    return _Failure(
        i,
        f"invalid escape {_quote(shown)} at position {i} in a quoted {what}: with a quoted or "
        "non-classic label name Alertmanager reads quoted text as a Go string, where a "
        'backslash is written \\\\ (e.g. "\\\\d+"); \\", \\n, \\t and \\uXXXX are escapes',
    )


def _scan_token(text: str, i: int, what: str) -> tuple[str, int, list[int]] | _Failure:
    """A quoted or bare token of the UTF-8 parser at ``i``: (value, end, positions)."""
    n = len(text)
    if text[i] == '"':
        j = i + 1
        escaped = False
        while j < n:
            char = text[j]
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                break
            j += 1
        if j >= n:
            return _Failure(
                i,
                f"the {what} opened with a double quote at position {i} has no closing quote; "
                f'end it with "',
            )
        unquoted = _go_unquote(text, i, j + 1, what)
        if isinstance(unquoted, _Failure):
            return unquoted
        return unquoted[0], j + 1, unquoted[1]
    j = i
    while j < n and not _is_reserved(text[j]):
        j += 1
    return text[i:j], j, list(range(i, j))


def _skip_go_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in _GO_SPACE:
        i += 1
    return i


def _parse_utf8(text: str) -> _Parsed | _Failure:
    """Alertmanager's UTF-8 parser (matcher/parse) for one matcher, with positions."""
    n = len(text)
    i = _skip_go_space(text, 0)
    if i >= n or (text[i] != '"' and _is_reserved(text[i])):
        return _bad_name(text, i)
    token = _scan_token(text, i, "label name")
    if isinstance(token, _Failure):
        return token
    name, i, _ = token
    if not name:
        return _Failure(i - 2, f"the label name at position {i - 2} is empty")
    name_end = i
    i = _skip_go_space(text, i)
    op = _read_operator(text, i)
    if op is None:
        return _missing_operator(text, name, name_end)
    i = _skip_go_space(text, i + len(op))
    if i >= n:
        return _Failure(
            i, f'expected a value after "{op}" at position {i}; write "" for an empty value'
        )
    if text[i] != '"' and _is_reserved(text[i]):
        return _Failure(
            i,
            f"expected a value at position {i}, found {_preview(text, i)}; quote a value that "
            "contains whitespace or any of {}!=~,\\\"'`",
        )
    value_start = i
    token = _scan_token(text, i, "value")
    if isinstance(token, _Failure):
        return token
    value, i, positions = token
    i = _skip_go_space(text, i)
    if i < n:
        return _Failure(
            i,
            f"unexpected {_preview(text, i)} at position {i} after the value; a matcher is one "
            "label name, one operator and one value: put further matchers in their own "
            "entries, and quote a value that contains whitespace or any of {}!=~,\\\"'`",
        )
    return _Parsed(name, op, value, value_start, positions)


def _parse(text: str) -> _Parsed | _Failure:
    """Alertmanager's default: the classic parser, else the UTF-8 one. When both refuse,
    the error is the one of the parser the label name is written for."""
    stripped = text.strip()
    if stripped.startswith("{") or stripped.endswith("}"):
        position = text.index("{") if stripped.startswith("{") else text.rindex("}")
        brace = text[position]
        return _Failure(
            position,
            f'unexpected "{brace}" at position {position}: write each matcher as its own entry '
            f"without braces, e.g. {_EXAMPLE}",
        )
    classic = _parse_classic(text)
    if isinstance(classic, _Parsed):
        return classic
    utf8 = _parse_utf8(text)
    if isinstance(utf8, _Parsed):
        return utf8
    start = _skip_go_space(text, 0)
    name = _CLASSIC_NAME.match(text, start)
    written_classic = name is not None and (
        name.end() >= len(text) or _is_reserved(text[name.end()])
    )
    return classic if written_classic else utf8
