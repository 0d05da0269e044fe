"""Alertmanager label matchers: parsing, matching, and which rules get an alert.

A rule's ``match_criteria`` has two forms:

- a dict ``{"severity": "critical"}``: equality, as it always was. Each label must be
  present with that value (even an empty one); ``{}`` matches every alert.
- a list of Alertmanager matcher strings ``['severity=~"critical|page"', 'team!="db"']``:
  Alertmanager's matchers with its semantics. A missing label is the empty string, so
  ``team!="db"`` matches an alert without ``team`` and ``team=""`` matches a missing
  label; regexes are anchored at both ends (``^(?:…)$``, as Alertmanager compiles
  them); ``[]`` matches every alert.

Regexes are RE2 (``google-re2``): Alertmanager's syntax family (Go's ``regexp`` is RE2)
and linear-time matching, so no pattern a rule author writes can hang alert processing.
Backreferences and lookarounds, which RE2 does not have, are refused when the matcher
is parsed, with the position and a way to write it instead.

The matcher syntax is what Alertmanager accepts by default (its "fallback" parser since
0.27, and the classic one before it):

- a label name bare (``[a-zA-Z_:][a-zA-Z0-9_:]*``), or any UTF-8 name: bare when it has
  no whitespace and none of ``{}!=~,\\"'``, ``` ` ```, else in double quotes
  (``"service.name"="api"``);
- one of ``=``, ``!=``, ``=~``, ``!~``; whitespace around the three parts is ignored;
- a value, bare or in double quotes. With a classic (bare ``[a-zA-Z_:]…``) label name the
  value follows Alertmanager's classic rules: ``\\"``, ``\\\\`` and ``\\n`` are escapes and
  a backslash before anything else is kept, so ``code=~"5\\d\\d"`` works; a bare value runs
  to the end of the text. With any other label name the value is read by Alertmanager's
  UTF-8 parser: a quoted value is a Go string literal (``\\t``, ``\\u00e9``, … are escapes,
  a stray backslash is an error), a bare value stops at whitespace or a reserved character.

Two things are stricter than Alertmanager, because a rule's criteria list holds one
matcher per entry: a bare value must not contain ``,`` (``severity=critical,team=db``
would silently be one matcher whose value is ``critical,team=db``; write two entries, or
quote the value), and braces are refused. :func:`parse_matchers` reads Alertmanager's
multi-matcher text (``{a="1", b=~"2"}``, a ``matchers:`` entry of its configuration).

This module is pure (stdlib and ``re2``): the model, the rule index, forms and the
Alertmanager import all build on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, Union

import re2

__all__ = [
    "EQUAL",
    "NEGATED",
    "NOT_EQUAL",
    "NOT_REGEX",
    "OPERATORS",
    "REGEX",
    "CriteriaError",
    "Matcher",
    "MatcherRegexError",
    "MatcherSyntaxError",
    "MatchingRule",
    "PlainRule",
    "canonical_criteria",
    "failing_matchers",
    "fan_out",
    "format_matchers",
    "is_classic_label_name",
    "matches_all",
    "parse_criteria",
    "parse_matcher",
    "parse_matchers",
    "positive_equalities",
    "rank_key",
    "select_rules",
]

EQUAL, NOT_EQUAL, REGEX, NOT_REGEX = "=", "!=", "=~", "!~"
OPERATORS = (EQUAL, NOT_EQUAL, REGEX, NOT_REGEX)
NEGATED = {EQUAL: NOT_EQUAL, NOT_EQUAL: EQUAL, REGEX: NOT_REGEX, NOT_REGEX: REGEX}
OPERATORS_TEXT = "=, !=, =~, !~"

Criteria = Union[Mapping[str, Any], Sequence[Any]]

_CLASSIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# Go's regexp \s, which the classic parser trims with: ASCII only (no \v).
_CLASSIC_SPACE = frozenset("\t\n\f\r ")
# Go's unicode.IsSpace, which the UTF-8 parser skips.
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_RESERVED = frozenset("{}!=~,\\\"'`")
_EXAMPLE = 'severity="critical"'


def is_classic_label_name(name: str) -> bool:
    """Whether ``name`` is a classic Prometheus label name (written bare in a matcher)."""
    return _CLASSIC_NAME.fullmatch(name) is not None


def _is_reserved(char: str) -> bool:
    return char in _GO_SPACE or char in _RESERVED


# ---------------------------------------------------------------------------- errors


class CriteriaError(ValueError):
    """Match criteria that cannot be used: the wrong shape, or a matcher that does not parse.

    ``index`` is the 0-based position of the offending entry in a list of matchers
    (None for the dict form or a single matcher); messages count entries from 1.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.index = index

    def __reduce__(self) -> Any:
        return (_rebuild_error, (type(self), dict(self.__dict__)))


def _rebuild_error(cls: type[CriteriaError], state: dict[str, Any]) -> CriteriaError:
    error = cls.__new__(cls)
    ValueError.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class MatcherSyntaxError(CriteriaError):
    """A matcher's text is not a valid Alertmanager matcher.

    ``text`` is the text parsed, ``position`` the 0-based character offset in it where
    the problem is, ``detail`` what is wrong and how to write it instead (the message
    without the part that names the matcher).
    """

    def __init__(self, text: str, position: int, detail: str, *, index: int | None = None) -> None:
        self.text = text
        self.position = position
        self.detail = detail
        super().__init__(f"{describe_matcher(text, index)}: {detail}", index=index)


class MatcherRegexError(MatcherSyntaxError):
    """The regex of an ``=~``/``!~`` matcher is not valid RE2. ``pattern`` is the regex and
    ``reason`` RE2's own words."""

    def __init__(
        self,
        text: str,
        position: int,
        detail: str,
        *,
        pattern: str,
        reason: str,
        index: int | None = None,
    ) -> None:
        self.pattern = pattern
        self.reason = reason
        super().__init__(text, position, detail, index=index)


def describe_matcher(text: str, index: int | None = None) -> str:
    """``matcher 2 ("team!~db(")``, or ``matcher 'team="db'`` without an index."""
    quote = "'" if '"' in text else '"'
    shown = f"{quote}{text}{quote}"
    return f"matcher {index + 1} ({shown})" if index is not None else f"matcher {shown}"


@dataclass
class _Failure:
    position: int
    detail: str


# --------------------------------------------------------------------------- matcher


def _escape_value(value: str) -> str:
    """OpenMetrics escaping, Alertmanager's for matcher values: ``\\``, newline, ``"``."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_parts(name: str, op: str, value: str) -> tuple[str, int]:
    """The canonical text and the offset of the value's first character in it."""
    shown_name = name if is_classic_label_name(name) else f'"{_escape_value(name)}"'
    head = f'{shown_name}{op}"'
    return f'{head}{_escape_value(value)}"', len(head)


@dataclass(frozen=True)
class Matcher:
    """One label condition: ``name``, operator ``op`` (``=``, ``!=``, ``=~``, ``!~``) and
    ``value`` (a regex for ``=~``/``!~``).

    ``require_present`` is the dict form's equality: the label must be present with the
    value, even when the value is empty (an Alertmanager ``team=""`` also matches an
    alert without ``team``). It only goes with ``=``.
    """

    name: str
    op: str
    value: str
    require_present: bool = False
    regex: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"Unknown matcher operator {self.op!r}; use one of {OPERATORS_TEXT}.")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"A matcher's label name must be a non-empty string: {self.name!r}")
        if not isinstance(self.value, str):
            raise ValueError(f"A matcher's value must be a string: {self.value!r}")
        if self.require_present and self.op != EQUAL:
            raise ValueError("require_present goes only with the = operator.")
        if self.op in (REGEX, NOT_REGEX) and self.regex is None:
            text, start = _format_parts(self.name, self.op, self.value)
            positions, offset = [], start
            for char in self.value:
                positions.append(offset)
                offset += len(_escape_value(char))
            compiled = _compile_regex(self.value, positions)
            if isinstance(compiled, _RegexFailure):
                raise compiled.error(text, start)
            object.__setattr__(self, "regex", compiled)

    def __reduce__(self) -> Any:
        # The compiled regex is rebuilt, not pickled.
        return (Matcher, (self.name, self.op, self.value, self.require_present))

    def __str__(self) -> str:
        """The canonical Alertmanager text: ``name="value"`` (a non-classic name quoted)."""
        return _format_parts(self.name, self.op, self.value)[0]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the alert's ``labels`` satisfy this matcher (a missing label is "")."""
        op = self.op
        if op == EQUAL:
            if self.require_present:
                return labels.get(self.name) == self.value
            return labels.get(self.name, "") == self.value
        if op == NOT_EQUAL:
            return labels.get(self.name, "") != self.value
        found = _regex_search(self.regex, labels.get(self.name, ""))
        return found if op == REGEX else not found

    def negated(self) -> Matcher:
        """The matcher that matches exactly the label sets this one does not.

        Not defined for the dict form's ``require_present`` equality (ValueError).
        """
        if self.require_present:
            raise ValueError(f"{self} requires the label to be present; it has no negation.")
        return Matcher(self.name, NEGATED[self.op], self.value, regex=self.regex)

    @property
    def is_positive_equality(self) -> bool:
        """Whether a match implies the label is present with exactly ``value``."""
        return self.op == EQUAL and (self.value != "" or self.require_present)


def _regex_search(regex: Any, value: str) -> bool:
    try:
        return regex.search(value) is not None
    except UnicodeEncodeError:
        # A lone surrogate (possible in JSON) cannot be UTF-8: match its replacement.
        text = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return regex.search(text) is not None


# ---------------------------------------------------------------------------- regexes


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.never_capture = True
    return options


_OPTIONS = _re2_options()


@dataclass
class _RegexFailure:
    pattern: str
    reason: str
    offset: int  # in the pattern
    hint: str
    positions: list[int]  # text offset of each pattern character

    def error(self, text: str, value_start: int, index: int | None = None) -> MatcherRegexError:
        if self.positions and self.offset < len(self.positions):
            position = self.positions[self.offset]
        else:
            position = value_start
        detail = (
            f"the regex {_quote(self.pattern)} is not valid RE2 (the regex syntax Alertmanager "
            f"uses, which matches in linear time): RE2 reports {_quote(self.reason)} at "
            f"position {position}. {self.hint}"
        )
        return MatcherRegexError(
            text, position, detail, pattern=self.pattern, reason=self.reason, index=index
        )


def _quote(text: str) -> str:
    return f'"{text}"' if '"' not in text else f"'{text}'"


_LOOKAROUND = {
    "(?=": "a lookahead",
    "(?!": "a negative lookahead",
    "(?<=": "a lookbehind",
    "(?<!": "a negative lookbehind",
}


def _regex_hint(reason: str, fragment: str) -> str:
    """How to write what RE2 refused."""
    if reason.startswith("invalid escape sequence") and re.fullmatch(r"\\[1-9]", fragment):
        return (
            f"Backreferences such as {fragment} are not supported: spell the repeated text "
            "out, or add another matcher for the label."
        )
    if reason.startswith("invalid escape sequence") and fragment in ("\\Z", "\\A", "\\z"):
        return f"The regex is anchored at both ends already ({fragment} is not needed): drop it."
    if reason.startswith("invalid escape sequence"):
        return (
            f"RE2 has no {fragment} escape: write the character itself, or a class such as "
            "[0-9] or \\d."
        )
    if reason.startswith("invalid perl operator"):
        for opener, kind in _LOOKAROUND.items():
            if fragment.startswith(opener):
                return (
                    f"RE2 has no lookarounds ({kind} {opener}…)): express the condition as a "
                    'second matcher on the label instead, e.g. team!~"db.*" next to '
                    'team=~".+".'
                )
        if fragment.startswith("(?P="):
            return "Named backreferences are not supported: spell the repeated text out."
        if fragment.startswith("(?>"):
            return "RE2 never backtracks, so atomic groups are not needed: use (?:…)."
        return "Use (?:…) for a group, or (?P<name>…) for a named one."
    if reason.startswith("bad repetition operator"):
        return (
            "RE2 never backtracks, so possessive quantifiers are not needed: drop the second "
            "+ (a++ becomes a+)."
        )
    if reason.startswith("invalid repetition size"):
        return "RE2 allows at most 1000 repetitions in {n,m}: use + or * for more."
    if reason.startswith("pattern too large"):
        return "The regex is too large for RE2: use fewer repetitions or alternatives."
    if reason.startswith(("missing )", "unexpected )", "missing ]")):
        return "Balance the brackets; escape a literal one with a backslash: \\( \\) \\[ \\]."
    if reason.startswith("missing argument to repetition operator"):
        return "A * + ? or {n} needs something before it; escape a literal one: \\* \\+ \\?."
    return "See https://github.com/google/re2/wiki/Syntax for what RE2 accepts."


def _compile_regex(pattern: str, positions: list[int]) -> Any:
    """The anchored compiled regex, or a :class:`_RegexFailure` saying why not.

    Like Alertmanager, the pattern is compiled as ``^(?:pattern)$``; the pattern alone is
    compiled first so that RE2's message quotes the author's text, not the anchoring.
    """
    try:
        re2.compile(pattern, _OPTIONS)
        return re2.compile(f"^(?:{pattern})$", _OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        reason = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        head, _, fragment = reason.partition(": ")
        if fragment == "(?P" and "(?P=" in pattern:
            fragment = "(?P="  # RE2 names only the start of a named backreference
        offset = max(pattern.find(fragment), 0) if fragment else 0
        return _RegexFailure(pattern, reason, offset, _regex_hint(head, fragment), positions)
    except UnicodeEncodeError:
        return _RegexFailure(pattern, "the regex is not valid UTF-8", 0, "", positions)


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


def _build(parsed: _Parsed, text: str, index: int | None) -> Matcher:
    regex = None
    if parsed.op in (REGEX, NOT_REGEX):
        regex = _compile_regex(parsed.value, parsed.positions)
        if isinstance(regex, _RegexFailure):
            raise regex.error(text, parsed.value_start, index)
    return Matcher(parsed.name, parsed.op, parsed.value, regex=regex)


def _check_text(text: Any, index: int | None) -> str:
    if not isinstance(text, str):
        where = f"matcher {index + 1}" if index is not None else "a matcher"
        raise CriteriaError(
            f"{where} must be a string such as {_EXAMPLE!r}, not {_kind(text)} ({text!r})",
            index=index,
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MatcherSyntaxError(
            text, exc.start, f"the text is not valid UTF-8 at position {exc.start}", index=index
        ) from None
    return text


def parse_matcher(text: str, *, index: int | None = None) -> Matcher:
    """One Alertmanager matcher, e.g. ``severity=~"critical|page"``.

    Raises :class:`MatcherSyntaxError` (:class:`MatcherRegexError` for a regex RE2
    refuses) with the position and a way to write it right. ``index`` (0-based) is the
    entry's place in a criteria list, named in the message.
    """
    text = _check_text(text, index)
    parsed = _parse(text)
    if isinstance(parsed, _Failure):
        raise MatcherSyntaxError(text, parsed.position, parsed.detail, index=index)
    return _build(parsed, text, index)


def _split_classic(text: str) -> list[tuple[int, str]]:
    """Alertmanager's ParseMatchers splitting: commas outside double quotes, with
    ``\\"`` not ending a quote. Each piece with its offset in ``text``."""
    pieces: list[tuple[int, str]] = []
    inside = escaped = False
    start = 0
    for i, char in enumerate(text):
        if char == "," and not inside:
            pieces.append((start, text[start:i]))
            start = i + 1
            continue
        if char == '"':
            if not escaped:
                inside = not inside
            else:
                escaped = False
        elif char == "\\":
            escaped = not escaped
        elif char != ",":
            escaped = False
    pieces.append((start, text[start:]))
    return pieces


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """Several matchers in one text, as Alertmanager reads a ``matchers:`` entry or
    amtool's argument: ``{severity="critical", team=~"db|web"}`` or without braces,
    separated by commas outside quotes; a trailing comma is allowed. Each matcher is read
    as :func:`parse_matcher` reads it (so a bare value cannot contain a comma here
    either). ``""`` and ``{}`` are no matchers.
    """
    text = _check_text(text, None)
    body_start = 0
    body_end = len(text)
    stripped_start = len(text) - len(text.lstrip())
    stripped_end = len(text.rstrip())
    if text.startswith("{", stripped_start):
        body_start = stripped_start + 1
    if stripped_end > body_start and text[stripped_end - 1] == "}":
        body_end = stripped_end - 1
    pieces = _split_classic(text[body_start:body_end])
    if pieces and not pieces[-1][1].strip():
        pieces.pop()  # a trailing comma, or nothing at all
    matchers = []
    for offset, piece in pieces:
        parsed = _parse(piece)
        if isinstance(parsed, _Failure):
            raise MatcherSyntaxError(text, body_start + offset + parsed.position, parsed.detail)
        shifted = _Parsed(
            parsed.name,
            parsed.op,
            parsed.value,
            body_start + offset + parsed.value_start,
            [body_start + offset + p for p in parsed.positions],
        )
        matchers.append(_build(shifted, text, None))
    return tuple(matchers)


def _kind(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    return names.get(type(value), type(value).__name__)


def parse_criteria(criteria: Criteria) -> tuple[Matcher, ...]:
    """A rule's ``match_criteria`` as matchers; all must match.

    A dict is the equality form (each label present with that value; keys sorted); a
    list holds one Alertmanager matcher string per entry, kept in order. Raises
    :class:`CriteriaError` (:class:`MatcherSyntaxError` for a matcher's text) naming the
    entry.
    """
    if isinstance(criteria, Mapping):
        matchers = []
        for key, value in sorted(criteria.items(), key=lambda item: str(item[0])):
            if not isinstance(key, str) or not key.strip():
                raise CriteriaError(
                    f"match criteria keys must be non-empty label names; got {key!r}"
                )
            if not isinstance(value, str):
                raise CriteriaError(
                    f"label {key!r}: the value must be a string, not {_kind(value)} ({value!r}); "
                    f'quote it: {{"{key}": "{value}"}}'
                )
            matchers.append(Matcher(key, EQUAL, value, require_present=True))
        return tuple(matchers)
    if isinstance(criteria, (list, tuple)):
        return tuple(parse_matcher(text, index=i) for i, text in enumerate(criteria))
    raise CriteriaError(
        "match criteria must be an object of label → value such as "
        '{"severity": "critical"}, or a list of Alertmanager matchers such as '
        f'["severity=~\\"critical|page\\"", "team!=\\"db\\""], not {_kind(criteria)}'
    )


def format_matchers(matchers: Iterable[Matcher]) -> list[str]:
    """The list form of ``matchers``: each one's canonical Alertmanager text, in order.

    A dict-form equality on an empty value (``{"team": ""}``: present and empty) has no
    Alertmanager text, which cannot tell an empty label from a missing one: ValueError.
    """
    texts = []
    for matcher in matchers:
        if matcher.require_present and matcher.value == "":
            raise ValueError(
                f"The criteria {{{matcher.name!r}: ''}} (label present and empty) cannot be "
                f'written as an Alertmanager matcher: {matcher.name}="" also matches an '
                f'alert without the label. Keep the object form, or write {matcher.name}="" '
                "if a missing label should match too."
            )
        texts.append(str(matcher))
    return texts


def canonical_criteria(criteria: Criteria) -> dict[str, str] | list[str]:
    """``criteria`` validated and written canonically, in the form it came in: a dict
    with sorted keys, or a list of canonical matcher texts in their order."""
    matchers = parse_criteria(criteria)
    if isinstance(criteria, Mapping):
        return {m.name: m.value for m in matchers}
    return format_matchers(matchers)


# --------------------------------------------------------------------------- matching


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches (true for no matchers)."""
    return all(m.matches(labels) for m in matchers)


def failing_matchers(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> list[Matcher]:
    """The matchers ``labels`` do not satisfy (for explaining a non-match)."""
    return [m for m in matchers if not m.matches(labels)]


def positive_equalities(matchers: Iterable[Matcher]) -> tuple[tuple[str, str], ...]:
    """The ``(label, value)`` pairs every alert that matches must carry: ``=`` matchers on
    a non-empty value, and the dict form's equalities. A rule index can file a rule under
    one of these; a rule without any must be checked against every alert."""
    return tuple((m.name, m.value) for m in matchers if m.is_positive_equality)


# ---------------------------------------------------------------------------- fan-out


class MatchingRule(Protocol):
    """What :func:`select_rules` needs of a rule."""

    @property
    def matchers(self) -> Sequence[Matcher]: ...

    @property
    def priority(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def continue_matching(self) -> bool: ...


R = TypeVar("R", bound=MatchingRule)


@dataclass(frozen=True)
class PlainRule:
    """A rule reduced to what matching needs (tests, the Alertmanager import, tools)."""

    name: str
    priority: int
    matchers: tuple[Matcher, ...]
    continue_matching: bool = False

    @classmethod
    def from_criteria(
        cls, name: str, priority: int, criteria: Criteria, continue_matching: bool = False
    ) -> PlainRule:
        return cls(name, priority, parse_criteria(criteria), continue_matching)


def rank_key(rule: MatchingRule) -> tuple[int, str]:
    """Best first: the highest priority, then the name A→Z."""
    return (-rule.priority, rule.name)


def fan_out(ranked_matching: Iterable[R]) -> list[R]:
    """From matching rules already best first, the ones that get the alert: the first,
    and while the rule just taken has ``continue_matching``, the next one too."""
    taken: list[R] = []
    for rule in ranked_matching:
        taken.append(rule)
        if not rule.continue_matching:
            break
    return taken


def select_rules(rules: Iterable[R], labels: Mapping[str, str]) -> list[R]:
    """The rules that get an alert with ``labels``, best first: the plain definition
    (every rule checked), which a faster index must agree with."""
    matching = [rule for rule in rules if matches_all(rule.matchers, labels)]
    return fan_out(sorted(matching, key=rank_key))
