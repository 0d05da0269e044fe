"""The rule index: active rules filed for fast matching, and updated rule by rule.

:class:`RuleIndex` files each rule under one of its positive equalities (``team="db"``, or
the object form's pairs), the one the fewest rules share, so a match looks only at the rules
that share a pair with the alert. Rules without one (only regexes, negations, ``x=""``, or
no criteria) sit in a short list checked for every alert. Every list is kept in rank order
(highest ``priority``, then ``name``), so a scan stops at a list's first full match, or as
soon as its ranks can no longer beat the best match so far.

A rule edit does not rebuild the index: :meth:`RuleIndex.updated` returns a new index with
the changed rules taken out and put back (copy on write: the lists it does not touch are
shared, so a thread still matching against the old index is not disturbed). A rule's rank is
its ``(-priority, name)`` itself, so putting one rule in costs one list insertion, and no
other rule moves.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from ..typing import Id
from .compiled import CompiledRule, SkippedKey
from .matchers import fan_out, positive_equalities

Pair = tuple[str, str]
#: ``(-priority, name, n)``: ``n`` tells apart rules with the same priority and name (only
#: possible in pure use: names are unique in the database), in the order they were filed.
Rank = tuple[int, str, int]
Ranked = tuple[Rank, CompiledRule]
#: A rank after every rule's.
# Any: (inf,) compares above every Rank, and no Rank type holds it.
_LAST: Any = (math.inf,)
#: Where a rule is filed: its bucket's pair, or None for the unanchored list.
Anchor = Optional[Pair]


@dataclass
class RuleIndex:
    """Active rules compiled for fast matching; see the module's docstring."""

    buckets: dict[Pair, list[Ranked]] = field(default_factory=dict)
    unanchored: list[Ranked] = field(default_factory=list)
    by_id: dict[Id, CompiledRule] = field(default_factory=dict)
    #: Active rules left out because their criteria do not parse: id → (name, why).
    skipped_by_id: dict[SkippedKey, tuple[str, str]] = field(default_factory=dict)
    #: Each rule's rank and anchor, by id.
    placed: dict[Id, tuple[Rank, Anchor]] = field(default_factory=dict)
    #: How many rules have each positive equality (to file a new rule under its rarest).
    frequency: dict[Pair, int] = field(default_factory=dict)
    filed: int = 0

    @property
    def size(self) -> int:
        return len(self.by_id)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """Active rules left out because their criteria do not parse: (name, why)."""
        return sorted(self.skipped_by_id.values())

    @classmethod
    def build(
        cls,
        rules: Iterable[CompiledRule],
        skipped: Iterable[tuple[str, str]] | Mapping[SkippedKey, tuple[str, str]] = (),
    ) -> RuleIndex:
        """An index of ``rules``, each under the pair the fewest of them share."""
        ranked = sorted(rules, key=lambda r: r.sort_key)
        anchors = [positive_equalities(rule.matchers) for rule in ranked]
        index = cls(skipped_by_id=_skipped(skipped))
        for pairs in anchors:
            for pair in set(pairs):
                index.frequency[pair] = index.frequency.get(pair, 0) + 1
        for rule, pairs in zip(ranked, anchors):
            anchor = min(pairs, key=lambda p: (index.frequency[p], p)) if pairs else None
            rank = (*rule.sort_key, index.filed)
            index.filed += 1
            (index.buckets.setdefault(anchor, []) if anchor else index.unanchored).append(
                (rank, rule)
            )
            index.by_id[rule.id] = rule
            index.placed[rule.id] = (rank, anchor)
        return index

    def updated(
        self,
        changed: Iterable[Id],
        rules: Iterable[CompiledRule],
        skipped: Mapping[SkippedKey, tuple[str, str]] | None = None,
    ) -> RuleIndex:
        """A new index: the rules with ids in ``changed`` taken out (deleted, deactivated or
        edited), then ``rules`` (their active versions) and ``skipped`` (those that do not
        parse) put in. This index is left as it was."""
        new = RuleIndex(
            buckets=dict(self.buckets),
            unanchored=self.unanchored,
            by_id=dict(self.by_id),
            skipped_by_id=dict(self.skipped_by_id),
            placed=dict(self.placed),
            frequency=dict(self.frequency),
            filed=self.filed,
        )
        copied: set[Anchor] = set()

        def writable(anchor: Anchor) -> list[Ranked]:
            if anchor is None:
                if None not in copied:
                    new.unanchored = list(new.unanchored)
                    copied.add(None)
                return new.unanchored
            if anchor not in copied:
                new.buckets[anchor] = list(new.buckets.get(anchor, ()))
                copied.add(anchor)
            return new.buckets.setdefault(anchor, [])

        for rule_id in changed:
            new.skipped_by_id.pop(rule_id, None)
            old = new.by_id.pop(rule_id, None)
            if old is None:
                continue
            rank, anchor = new.placed.pop(rule_id)
            entries = writable(anchor)
            del entries[bisect.bisect_left(entries, (rank,))]
            for pair in set(positive_equalities(old.matchers)):
                new.frequency[pair] -= 1
                if not new.frequency[pair]:
                    del new.frequency[pair]
        for rule in rules:
            pairs = positive_equalities(rule.matchers)
            for pair in set(pairs):
                new.frequency[pair] = new.frequency.get(pair, 0) + 1
            anchor = min(pairs, key=lambda p: (new.frequency[p], p)) if pairs else None
            rank = (*rule.sort_key, new.filed)
            new.filed += 1
            bisect.insort(writable(anchor), (rank, rule))
            new.by_id[rule.id] = rule
            new.placed[rule.id] = (rank, anchor)
        for anchor in copied:
            if anchor is not None and not new.buckets[anchor]:
                del new.buckets[anchor]
        new.skipped_by_id.update(skipped or {})
        return new

    def first(self, labels: Mapping[str, str]) -> Ranked | None:
        """The best matching rule with its rank, or None."""
        best_rank, best = _LAST, None
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
        for rank, rule in self.unanchored:
            if rank >= best_rank:
                break
            if rule.matches(labels):
                best_rank, best = rank, rule
                break
        return None if best is None else (best_rank, best)

    def match(self, labels: Mapping[str, str]) -> CompiledRule | None:
        """The rule that gets the alert first, or None."""
        found = self.first(labels)
        return None if found is None else found[1]

    def select(self, labels: Mapping[str, str]) -> list[CompiledRule]:
        """The rules that get the alert, best first (the fan-out of ``continue_matching``)."""
        found = self.first(labels)
        if found is None:
            return []
        first_rank, first = found
        if not first.continue_matching:
            return [first]
        later = [rule for rank, rule in self._matching(labels) if rank > first_rank]
        return fan_out([first, *later])

    def candidates(self, labels: Mapping[str, str]) -> list[CompiledRule]:
        """Every rule that matches ``labels``, best first (for explaining a match)."""
        return [rule for _, rule in self._matching(labels)]

    def _matching(self, labels: Mapping[str, str]) -> list[Ranked]:
        found = [item for item in self.unanchored if item[1].matches(labels)]
        for pair in labels.items():
            found.extend(item for item in self.buckets.get(pair, ()) if item[1].matches(labels))
        found.sort(key=lambda item: item[0])
        return found


def _skipped(
    skipped: Iterable[tuple[str, str]] | Mapping[SkippedKey, tuple[str, str]],
) -> dict[SkippedKey, tuple[str, str]]:
    if isinstance(skipped, Mapping):
        return dict(skipped)
    return {("skipped", i): pair for i, pair in enumerate(skipped)}
