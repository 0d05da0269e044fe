"""A rule's criteria compiled for matching, without the database.

A rule's ``match_criteria`` are matchers (:mod:`.matchers`): the object form
``{"team": "db"}`` is equality with the label present, the list form holds Alertmanager
matchers (``'severity=~"critical|page"'``, ``'team!="db"'``). A rule matches when every
matcher does; empty criteria match every alert.

The matching active rules are ranked best first (highest ``priority``, then ``name``).
The first one gets the alert; while the rule just taken has ``continue_matching``, the
next matching one gets it too (Alertmanager's ``continue``).

This module compiles rules (:class:`CompiledRule`); :class:`~.index.RuleIndex` files them
for fast matching and :mod:`.explain` says why a rule matches or not. Matchers are parsed,
and their regexes compiled, once per distinct text (a :data:`ParseCache`).
:func:`.matchers.select_rules` is the same definition written plainly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, Union

from ..typing import Id
from .matchers import EQUAL, REGEX, CriteriaError, Matcher, parse_matcher

logger = logging.getLogger(__name__)

#: Parsed matchers by their text, shared by the rules of one index build.
ParseCache = dict[str, Matcher]
#: What a left-out rule is filed under: its id, or ``("skipped", n)`` in pure use.
SkippedKey = Union[Id, tuple[str, int]]


class RuleRow(Protocol):
    """What :func:`compile_rules` reads of a rule (a ``SlackIntegrationRule``)."""

    @property
    def pk(self) -> Id: ...
    @property
    def priority(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def match_criteria(self) -> object: ...
    @property
    def continue_matching(self) -> bool: ...


def criteria_matchers(criteria: object, *, cache: ParseCache | None = None) -> tuple[Matcher, ...]:
    """A rule's ``match_criteria`` as matchers, as the index reads them.

    The list form is parsed strictly (:class:`~.matchers.CriteriaError`
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


def legacy_values(criteria: object) -> list[str]:
    """The labels of object-form criteria whose value is not a string (compared as text)."""
    if not isinstance(criteria, Mapping):
        return []
    return sorted(str(key) for key, value in criteria.items() if not isinstance(value, str))


@dataclass(frozen=True)
class CompiledRule:
    """What matching needs of a rule: its id, rank, matchers and ``continue_matching``."""

    id: Id
    priority: int
    name: str
    matchers: tuple[Matcher, ...]
    continue_matching: bool = False
    #: What a match returns (the model instance; None in pure use).
    rule: object = field(default=None, compare=False, repr=False)

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
    id: Id,
    priority: int,
    name: str,
    criteria: object,
    rule: object = None,
    continue_matching: bool = False,
    *,
    cache: ParseCache | None = None,
) -> CompiledRule:
    """``rule`` is the model instance a match returns (None in pure use). Raises
    :class:`~.matchers.CriteriaError` for criteria that do not parse."""
    return CompiledRule(
        id=id,
        priority=int(priority),
        name=str(name),
        matchers=criteria_matchers(criteria, cache=cache),
        continue_matching=bool(continue_matching),
        rule=rule,
    )


def compile_rules(
    rules: Iterable[RuleRow],
) -> tuple[list[CompiledRule], dict[SkippedKey, tuple[str, str]]]:
    """The active rules (model instances) compiled, and the ones left out: id → (name, why).

    A rule whose criteria do not parse (a row written around validation) is left out and
    logged, so it cannot stop the other rules; object-form values that are not strings are
    compared as text, with a warning naming the rule.
    """
    cache: ParseCache = {}
    compiled: list[CompiledRule] = []
    skipped: dict[SkippedKey, tuple[str, str]] = {}
    for rule in rules:
        try:
            compiled.append(
                compile_rule(
                    rule.pk,
                    rule.priority,
                    rule.name,
                    rule.match_criteria,
                    rule=rule,
                    continue_matching=rule.continue_matching,
                    cache=cache,
                )
            )
        except CriteriaError as exc:
            skipped[rule.pk] = (rule.name, str(exc))
            logger.error(
                "Slack rule %r is left out of matching: its match criteria are invalid (%s). "
                "Open it in the rule pages and save it with valid criteria.",
                rule.name,
                exc,
            )
            continue
        legacy = legacy_values(rule.match_criteria)
        if legacy:
            logger.warning(
                "Slack rule %r has match criteria values that are not strings (%s); they are "
                "compared as text, as before. Save them as strings (the rule form says how).",
                rule.name,
                ", ".join(legacy),
            )
    return compiled, skipped


def reference_match(
    rules: Iterable[CompiledRule], labels: Mapping[str, str]
) -> CompiledRule | None:
    """The rule that gets an alert first, written plainly: check every rule."""
    matching = [r for r in rules if r.matches(labels)]
    return min(matching, key=lambda r: r.sort_key, default=None)


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
