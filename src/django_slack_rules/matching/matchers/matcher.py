"""One Alertmanager matcher: a label name, an operator and a value, and what it matches."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union

from .regex import Regex, _compile_regex, _RegexFailure

EQUAL, NOT_EQUAL, REGEX, NOT_REGEX = "=", "!=", "=~", "!~"
OPERATORS = (EQUAL, NOT_EQUAL, REGEX, NOT_REGEX)
NEGATED = {EQUAL: NOT_EQUAL, NOT_EQUAL: EQUAL, REGEX: NOT_REGEX, NOT_REGEX: REGEX}
OPERATORS_TEXT = "=, !=, =~, !~"

#: A rule's ``match_criteria``: an object of label → value, or a list of matchers' texts
#: (their values are checked when parsed).
Criteria = Union[Mapping[str, object], Sequence[object]]

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
    regex: Regex | None = field(default=None, compare=False, repr=False)

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

    def __reduce__(self) -> tuple[type[Matcher], tuple[str, str, str, bool]]:
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
        # __post_init__ compiles the regex of every =~ and !~ matcher (never None here).
        found = _regex_search(self.regex, labels.get(self.name, ""))  # type: ignore[arg-type]
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


def _regex_search(regex: Regex, value: str) -> bool:
    try:
        return regex.search(value) is not None
    except UnicodeEncodeError:
        # A lone surrogate (possible in JSON) cannot be UTF-8: match its replacement.
        text = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return regex.search(text) is not None
