"""Finding the rule that wins for an alert's labels.

A rule matches when every ``label: value`` pair of its ``match_criteria`` is in
the alert's labels (a subset); empty criteria match every alert. Among matching
active rules the highest ``priority`` wins, then ``name`` ascending.

:class:`RuleIndex` is the pure part: it compiles rules into buckets keyed by one
of their label pairs, so a match looks only at the rules that share a pair with
the alert. :class:`SlackRuleMatcherService` keeps one index per process and
rebuilds it only when the rule set's version (a counter in the database, bumped
in the same transaction as every rule change) has moved, so a rule edited in a
web process is seen by a worker's next match.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

Pair = tuple[str, str]


@dataclass(frozen=True)
class CompiledRule:
    """What matching needs of a rule: its id, rank key and criteria."""

    id: Any
    priority: int
    name: str
    criteria: tuple[Pair, ...]
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


def normalize_labels(labels: Mapping[str, Any] | None) -> dict[str, str]:
    """Labels as str → str (what Alertmanager sends); None values are dropped."""
    return {str(k): str(v) for k, v in (labels or {}).items() if v is not None}


def reference_match(
    rules: Iterable[CompiledRule], labels: Mapping[str, str]
) -> CompiledRule | None:
    """The definition of matching, written plainly: check every rule."""
    matching = [r for r in rules if r.matches(labels)]
    return min(matching, key=lambda r: r.sort_key, default=None)


def criteria_mismatches(
    criteria: Mapping[str, Any] | None, labels: Mapping[str, str]
) -> list[tuple[str, str, str | None]]:
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

    @classmethod
    def build(cls, rules: Iterable[CompiledRule]) -> RuleIndex:
        ranked = sorted(rules, key=lambda r: r.sort_key)
        frequency: dict[Pair, int] = {}
        for rule in ranked:
            for pair in rule.criteria:
                frequency[pair] = frequency.get(pair, 0) + 1
        index = cls(size=len(ranked))
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


class _IndexCache:
    """The per-process index and the rule-set version it was built from."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[str, Any] | None = None
        self.index = RuleIndex()


_cache = _IndexCache()


class SlackRuleMatcherService:
    """Finds the active rule that wins for an alert's labels."""

    def find_matching_rule(self, alert_labels: Mapping[str, Any] | None) -> Any:
        """Return the winning ``SlackIntegrationRule``, or None when no active rule matches.

        One small query per call (the rule-set version); the rule itself comes from
        the index, as a copy the caller may change freely.
        """
        compiled = self.get_index().match(normalize_labels(alert_labels))
        return None if compiled is None else _copy_rule(compiled.rule)

    def explain(self, alert_labels: Mapping[str, Any] | None) -> list[Any]:
        """All active rules that match, best first (the first one is the winner)."""
        candidates = self.get_index().candidates(normalize_labels(alert_labels))
        return [_copy_rule(c.rule) for c in candidates]

    def get_index(self) -> RuleIndex:
        from django.db import router

        from ..models import RuleSetVersion, SlackIntegrationRule

        alias = router.db_for_read(SlackIntegrationRule)
        version = RuleSetVersion.current(alias)
        # No version row (a database flushed by tests): build every time, cache nothing.
        key = (alias, version) if version is not None else None
        if key is not None and _cache.key == key:
            return _cache.index
        with _cache.lock:
            if key is None or _cache.key != key:
                # Read the version before the rules: if a change commits in between,
                # the index is newer than its key and is rebuilt once more next time.
                rules = SlackIntegrationRule.objects.using(alias).active()
                index = RuleIndex.build(
                    compile_rule(r.pk, r.priority, r.name, r.match_criteria, rule=r) for r in rules
                )
                _cache.index, _cache.key = index, key
                logger.debug(
                    "Rebuilt the rule index: %d active rules (version %s)", index.size, version
                )
            return _cache.index


def _copy_rule(rule: Any) -> Any:
    """A copy of a cached rule that a caller may change without touching the index."""
    duplicate = copy.copy(rule)
    duplicate.match_criteria = dict(rule.match_criteria or {})
    return duplicate
