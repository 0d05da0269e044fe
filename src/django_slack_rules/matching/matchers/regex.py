"""RE2 regexes of matchers: compiled anchored, and RE2's refusals explained with a position."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import re2

from .errors import MatcherRegexError

# ---------------------------------------------------------------------------- regexes


class Regex(Protocol):
    """A compiled RE2 regex (``re2`` ships no type information): what matching calls."""

    def search(self, text: str) -> object: ...


def _re2_options() -> object:
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


def _compile_regex(pattern: str, positions: list[int]) -> Regex | _RegexFailure:
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
