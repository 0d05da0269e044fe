"""Which rules get an alert: matching a rule's matchers, and Alertmanager's ``continue``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .criteria import parse_criteria
from .matcher import Criteria, Matcher

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
