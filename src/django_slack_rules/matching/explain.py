"""Why a rule matches an alert's labels or not, matcher by matcher: the match tester, the
preview and the rule form's warnings show these verdicts to people."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import re2

from .compiled import criteria_matchers
from .matchers import NOT_REGEX, REGEX, CriteriaError, Matcher, failing_matchers

_UNANCHORED = re2.Options()
_UNANCHORED.log_errors = False
_UNANCHORED.never_capture = True


@dataclass(frozen=True)
class Verdict:
    """One matcher of a rule against an alert's labels, for the match tester and the
    preview: whether it ``passed`` and the label's ``actual`` value (None: absent)."""

    matcher: Matcher
    passed: bool
    actual: str | None
    #: A failing ``=~`` whose regex matches part of the value: regexes are anchored.
    partial: bool = False

    @property
    def name(self) -> str:
        return self.matcher.name

    @property
    def op(self) -> str:
        return self.matcher.op

    @property
    def value(self) -> str:
        return self.matcher.value

    @property
    def text(self) -> str:
        return str(self.matcher)


def _partial(matcher: Matcher, value: str | None) -> bool:
    """Whether an ``=~`` regex that does not match ``value`` finds it unanchored."""
    if matcher.op != REGEX or not value:
        return False
    try:
        return re2.compile(matcher.value, _UNANCHORED).search(value) is not None
    except (re2.error, UnicodeEncodeError):
        return False


def verdicts(
    matchers: Iterable[Matcher], labels: Mapping[str, str], *, failing_only: bool = False
) -> list[Verdict]:
    """Each matcher's verdict for ``labels`` (only the failing ones with ``failing_only``)."""
    matchers = tuple(matchers)
    failing = {id(m) for m in failing_matchers(matchers, labels)}
    found = []
    for matcher in matchers:
        passed = id(matcher) not in failing
        if passed and failing_only:
            continue
        actual = labels.get(matcher.name)
        found.append(Verdict(matcher, passed, actual, not passed and _partial(matcher, actual)))
    return found


def explain_criteria(
    criteria: object, labels: Mapping[str, str], *, failing_only: bool = False
) -> list[Verdict]:
    """:func:`verdicts` for a rule's ``match_criteria``; criteria that do not parse have none."""
    try:
        matchers = criteria_matchers(criteria)
    except CriteriaError:
        return []
    return verdicts(matchers, labels, failing_only=failing_only)


def regex_warnings(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> list[Verdict]:
    """The regex matchers (``=~``, ``!~``) that the sample ``labels`` fail."""
    regexes = [m for m in matchers if m.op in (REGEX, NOT_REGEX)]
    return verdicts(regexes, labels, failing_only=True)
