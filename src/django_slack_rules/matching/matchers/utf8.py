"""Reading one matcher's text as Alertmanager's UTF-8 parser does (its ``matcher/parse``):
any label name, quoted values read as Go string literals."""

from __future__ import annotations

from .errors import _Failure
from .matcher import _GO_SPACE, _is_reserved
from .regex import _quote
from .syntax import _bad_name, _missing_operator, _Parsed, _preview, _read_operator

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
