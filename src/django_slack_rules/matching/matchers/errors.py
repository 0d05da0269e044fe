"""The errors of matcher parsing: each names the matcher, the position and the fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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

    def __reduce__(
        self,
    ) -> tuple[
        Callable[[type[CriteriaError], dict[str, object]], CriteriaError],
        tuple[type[CriteriaError], dict[str, object]],
    ]:
        return (_rebuild_error, (type(self), dict(self.__dict__)))


def _rebuild_error(cls: type[CriteriaError], state: dict[str, object]) -> CriteriaError:
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
