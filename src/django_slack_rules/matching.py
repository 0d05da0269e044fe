"""Matching rules to an alert's labels, without the database: the rule index.

A rule's ``match_criteria`` are matchers (:mod:`django_slack_rules.matchers`): the
object form ``{"team": "db"}`` is equality with the label present, the list form holds
Alertmanager matchers (``'severity=~"critical|page"'``, ``'team!="db"'``). A rule matches
when every matcher does; empty criteria match every alert.

The matching active rules are ranked best first (highest ``priority``, then ``name``).
The first one gets the alert; while the rule just taken has ``continue_matching``, the
next matching one gets it too (Alertmanager's ``continue``).

This module compiles rules (:class:`CompiledRule`) and explains a match to people
(:class:`Verdict`); :class:`~django_slack_rules.rule_index.RuleIndex` files the compiled
rules for fast matching. Matchers are parsed, and their regexes compiled, once per distinct
text (a :data:`ParseCache`). :func:`matchers.select_rules
<django_slack_rules.matchers.select_rules>` is the same definition written plainly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import re2

from .matchers import (
    EQUAL,
    NOT_REGEX,
    REGEX,
    CriteriaError,
    Matcher,
    failing_matchers,
    parse_matcher,
)

logger = logging.getLogger(__name__)

Pair = tuple[str, str]
#: Parsed matchers by their text, shared by the rules of one index build.
ParseCache = dict[str, Matcher]


def criteria_matchers(criteria: Any, *, cache: ParseCache | None = None) -> tuple[Matcher, ...]:
    """A rule's ``match_criteria`` as matchers, as the index reads them.

    The list form is parsed strictly (:class:`~django_slack_rules.matchers.CriteriaError`
    names the entry). The object form is read as it always was: every value compared as
    text, so a row saved before values had to be strings (``{"code": 500}``, written by
    ``update()`` or a data migration) keeps matching ``code="500"``. ``None`` (JSON null)
    matches every alert, as before.
    """
    if criteria is None:
        return ()
    if isinstance(criteria, Mapping):
        matchers = []
        for key, value in sorted((str(k), v) for k, v in criteria.items()):
            if not key:
                raise CriteriaError("match criteria keys must be non-empty label names; got ''")
            text = value if isinstance(value, str) else str(value)
            matchers.append(Matcher(key, EQUAL, text, require_present=True))
        return tuple(matchers)
    if isinstance(criteria, (list, tuple)):
        found = []
        for index, text in enumerate(criteria):
            matcher = cache.get(text) if cache is not None and isinstance(text, str) else None
            if matcher is None:
                matcher = parse_matcher(text, index=index)
                if cache is not None:
                    cache[text] = matcher
            found.append(matcher)
        return tuple(found)
    kind = type(criteria).__name__
    raise CriteriaError(
        f"match criteria must be an object of label → value or a list of matchers, not {kind}"
    )


def legacy_values(criteria: Any) -> list[str]:
    """The labels of object-form criteria whose value is not a string (compared as text)."""
    if not isinstance(criteria, Mapping):
        return []
    return sorted(str(key) for key, value in criteria.items() if not isinstance(value, str))


@dataclass(frozen=True)
class CompiledRule:
    """What matching needs of a rule: its id, rank, matchers and ``continue_matching``."""

    id: Any
    priority: int
    name: str
    matchers: tuple[Matcher, ...]
    continue_matching: bool = False
    #: What a match returns (the model instance; None in pure use).
    rule: Any = field(default=None, compare=False, repr=False)

    @property
    def sort_key(self) -> tuple[int, str]:
        return (-self.priority, self.name)

    def matches(self, labels: Mapping[str, str]) -> bool:
        # A plain loop: the hot path of every match, cheaper than all() over a generator.
        for matcher in self.matchers:  # noqa: SIM110
            if not matcher.matches(labels):
                return False
        return True


def compile_rule(
    id: Any,
    priority: int,
    name: str,
    criteria: Any,
    rule: Any = None,
    continue_matching: bool = False,
    *,
    cache: ParseCache | None = None,
) -> CompiledRule:
    """``rule`` is the model instance a match returns (None in pure use). Raises
    :class:`~django_slack_rules.matchers.CriteriaError` for criteria that do not parse."""
    return CompiledRule(
        id=id,
        priority=int(priority),
        name=str(name),
        matchers=criteria_matchers(criteria, cache=cache),
        continue_matching=bool(continue_matching),
        rule=rule,
    )


def reference_match(
    rules: Iterable[CompiledRule], labels: Mapping[str, str]
) -> CompiledRule | None:
    """The rule that gets an alert first, written plainly: check every rule."""
    matching = [r for r in rules if r.matches(labels)]
    return min(matching, key=lambda r: r.sort_key, default=None)


# -- explaining a match ----------------------------------------------------------------


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
    criteria: Any, labels: Mapping[str, str], *, failing_only: bool = False
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


def example_labels(matchers: Iterable[Matcher]) -> dict[str, str]:
    """Labels that satisfy what can be read off the matchers: their positive equalities,
    and the first alternative of a regex of plain words (``critical|page`` → ``critical``)."""
    labels: dict[str, str] = {}
    for matcher in matchers:
        if matcher.is_positive_equality:
            labels[matcher.name] = matcher.value
        elif matcher.op == REGEX and matcher.name not in labels:
            first = matcher.value.split("|")[0]
            plain = first and all(c.isalnum() or c in "-_:/ " for c in first)
            if plain and matcher.matches({matcher.name: first}):
                labels[matcher.name] = first
    return labels
