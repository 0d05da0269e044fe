"""Matching rules to an alert's labels, without the database: the rule index.

A rule matches when every ``label: value`` pair of its ``match_criteria`` is in
the alert's labels (a subset); empty criteria match every alert. Among matching
rules the highest ``priority`` wins, then ``name`` ascending.

:class:`RuleIndex` compiles rules into buckets keyed by one of their label pairs,
so a match looks only at the rules that share a pair with the alert.
:func:`reference_match` is the same definition written plainly, for tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Pair = tuple[str, str]


@dataclass(frozen=True)
class CompiledRule:
    """What matching needs of a rule: its id, rank key and criteria."""

    id: Any
    priority: int
    name: str
    criteria: tuple[Pair, ...]
    #: What a match returns (the model instance; None in pure use).
    rule: Any = field(default=None, compare=False, repr=False)

    @property
    def sort_key(self) -> tuple[int, str]:
        return (-self.priority, self.name)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.criteria)


def compile_rule(
    id: Any, priority: int, name: str, criteria: Mapping[str, Any], rule: Any = None
) -> CompiledRule:
    """``rule`` is the model instance the match returns (None in pure use)."""
    return CompiledRule(
        id=id,
        priority=int(priority),
        name=str(name),
        criteria=tuple(sorted((str(k), str(v)) for k, v in (criteria or {}).items())),
        rule=rule,
    )


def reference_match(
    rules: Iterable[CompiledRule], labels: Mapping[str, str]
) -> CompiledRule | None:
    """The definition of matching, written plainly: check every rule."""
    matching = [r for r in rules if r.matches(labels)]
    return min(matching, key=lambda r: r.sort_key, default=None)


#: Why criteria do not match: ``(label, wanted, actual)``; actual is None when absent.
Mismatch = tuple[str, str, "str | None"]


def criteria_mismatches(
    criteria: Mapping[str, Any] | None, labels: Mapping[str, str]
) -> list[Mismatch]:
    """Why criteria do not match: each ``(label, wanted, actual)``; actual is None when absent."""
    return [
        (key, value, labels.get(key))
        for key, value in sorted((str(k), str(v)) for k, v in (criteria or {}).items())
        if labels.get(key) != value
    ]


@dataclass
class RuleIndex:
    """Active rules compiled for fast matching.

    Each rule with criteria sits in exactly one bucket, under the pair of its
    criteria that the fewest rules share (its most selective pair). Buckets are
    kept in rank order, so scanning a bucket stops at its first full match or as
    soon as its ranks can no longer beat the best match found so far.
    """

    buckets: dict[Pair, list[tuple[int, CompiledRule]]] = field(default_factory=dict)
    match_all: tuple[int, CompiledRule] | None = None
    size: int = 0
    by_id: dict[Any, CompiledRule] = field(default_factory=dict)

    @classmethod
    def build(cls, rules: Iterable[CompiledRule]) -> RuleIndex:
        ranked = sorted(rules, key=lambda r: r.sort_key)
        frequency: dict[Pair, int] = {}
        for rule in ranked:
            for pair in rule.criteria:
                frequency[pair] = frequency.get(pair, 0) + 1
        index = cls(size=len(ranked), by_id={rule.id: rule for rule in ranked})
        for rank, rule in enumerate(ranked):
            if not rule.criteria:
                if index.match_all is None:
                    index.match_all = (rank, rule)
                continue
            anchor = min(rule.criteria, key=lambda p: (frequency[p], p))
            index.buckets.setdefault(anchor, []).append((rank, rule))
        return index

    def match(self, labels: Mapping[str, str]) -> CompiledRule | None:
        best_rank, best = self.match_all if self.match_all else (self.size, None)
        buckets = self.buckets
        for pair in labels.items():
            bucket = buckets.get(pair)
            if not bucket:
                continue
            for rank, rule in bucket:
                if rank >= best_rank:
                    break
                if rule.matches(labels):
                    best_rank, best = rank, rule
                    break
        return best

    def candidates(self, labels: Mapping[str, str]) -> list[CompiledRule]:
        """Every rule that matches ``labels``, best first (for explaining a match)."""
        found = [self.match_all[1]] if self.match_all else []
        for pair in labels.items():
            found.extend(rule for _, rule in self.buckets.get(pair, ()) if rule.matches(labels))
        return sorted(found, key=lambda r: r.sort_key)
