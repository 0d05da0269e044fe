"""Finding the rule that wins for an alert's labels.

A rule matches when every ``label: value`` pair of its ``match_criteria`` is in
the alert's labels (a subset); empty criteria match every alert. Among matching
active rules the highest ``priority`` wins, then ``name`` ascending.

:class:`SlackRuleMatcherService` keeps one :class:`~django_slack_rules.matching.RuleIndex`
per process and rebuilds it only when the rule set's version (a random value in
the database, changed in the same transaction as every rule change) has moved,
so a rule edited in a web process is seen by a worker's next match.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import router

from ..labels import Labels, normalize_labels
from ..matching import Mismatch, RuleIndex, compile_rule, criteria_mismatches
from ..models import RuleSetVersion, SlackIntegrationRule

logger = logging.getLogger(__name__)


class _IndexCache:
    """The per-process index and the rule-set version it was built from."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[str, Any] | None = None
        self.index = RuleIndex()


_cache = _IndexCache()

#: ``get_index()`` reads the rule set's version itself unless the caller passes it.
_UNREAD: Any = object()


@dataclass
class NonMatch:
    """A rule that does not get an alert, and why."""

    rule: SlackIntegrationRule
    mismatches: list[Mismatch]
    inactive: bool


@dataclass
class MatchReport:
    """Which rules get an alert's labels, and why the others do not (the match tester)."""

    labels: Labels
    #: The active rules that match, best first; the first one wins.
    candidates: list[SlackIntegrationRule]
    #: The best-ranked rules that do not match (at most the limit asked for).
    others: list[NonMatch] = field(default_factory=list)
    #: How many rules do not match in all.
    others_total: int = 0

    @property
    def winner(self) -> SlackIntegrationRule | None:
        return self.candidates[0] if self.candidates else None


class SlackRuleMatcherService:
    """Finds the active rule that wins for an alert's labels."""

    def find_matching_rule(
        self, alert_labels: Mapping[str, Any] | None
    ) -> SlackIntegrationRule | None:
        """Return the winning ``SlackIntegrationRule``, or None when no active rule matches.

        One small query per call (the rule-set version); the rule itself comes from
        the index, as a copy the caller may change freely.
        """
        compiled = self.get_index().match(normalize_labels(alert_labels))
        return None if compiled is None else _copy_rule(compiled.rule)

    def explain(self, alert_labels: Mapping[str, Any] | None) -> list[SlackIntegrationRule]:
        """All active rules that match, best first (the first one is the winner)."""
        candidates = self.get_index().candidates(normalize_labels(alert_labels))
        return [_copy_rule(c.rule) for c in candidates]

    def report(self, alert_labels: Mapping[str, Any] | None, *, others_limit: int) -> MatchReport:
        """The rules that match, and the reasons of the ``others_limit`` best that do not."""
        labels = normalize_labels(alert_labels)
        candidates = self.explain(labels)
        rest = SlackIntegrationRule.objects.exclude(pk__in=[rule.pk for rule in candidates])
        rest = rest.order_by("-priority", "name")
        # The reasons are worked out for the rules shown only; the rest is a count.
        others = [
            NonMatch(
                rule=rule,
                mismatches=criteria_mismatches(rule.match_criteria, labels),
                inactive=not rule.is_active,
            )
            for rule in rest[:others_limit]
        ]
        total = len(others) if len(others) < others_limit else rest.count()
        return MatchReport(labels=labels, candidates=candidates, others=others, others_total=total)

    def get_rule(self, rule_id: Any, version: Any) -> SlackIntegrationRule | None:
        """The active rule ``rule_id`` from the index of the rule set ``version`` (which the
        caller has just read with ``RuleSetVersion.read()``), as a copy; None if not active."""
        compiled = self.get_index(version).by_id.get(rule_id)
        return None if compiled is None else _copy_rule(compiled.rule)

    def get_index(self, version: Any = _UNREAD) -> RuleIndex:
        """The index of the active rules, rebuilt when the rule set's version has moved."""
        alias = router.db_for_read(SlackIntegrationRule)
        if version is _UNREAD:
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


def _copy_rule(rule: SlackIntegrationRule) -> SlackIntegrationRule:
    """A copy of a cached rule that a caller may change without touching the index."""
    duplicate = copy.copy(rule)
    duplicate.match_criteria = dict(rule.match_criteria or {})
    return duplicate
