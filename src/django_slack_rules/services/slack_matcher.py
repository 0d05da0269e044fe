"""Finding the rules that get an alert's labels.

A rule matches when all its matchers do (``match_criteria``: an object of label → value,
or a list of Alertmanager matchers; empty criteria match every alert). The matching
active rules are ranked by ``priority`` (highest first), then ``name``: the first one gets
the alert, and while the rule just taken has ``continue_matching``, the next one too.

:class:`SlackRuleMatcherService` keeps one :class:`~django_slack_rules.matching.index.RuleIndex`
per process, at the rule set's version (a random value in the database, changed in the same
transaction as every rule change), so a rule edited in a web process is seen by a worker's
next match. When the version has moved, the index is updated with the rules changed since
(read from the log of changes, :mod:`django_slack_rules.models.ruleset`): one edit costs its
own rule, not a rebuild. It is rebuilt only when the log cannot say what changed.
"""

from __future__ import annotations

import copy
import enum
import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, cast

from django.db import router

from ..matching.compiled import compile_rules
from ..matching.explain import Verdict, explain_criteria
from ..matching.index import RuleIndex
from ..matching.labels import Labels, normalize_labels
from ..models import RuleChange, RuleSetVersion, SlackIntegrationRule
from ..models.ruleset import Position
from ..typing import Id, RawLabels

logger = logging.getLogger(__name__)


class _IndexCache:
    """The per-process index, the rule-set version it is at, and its place in the log."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: The database alias and the rule-set version the index is at.
        self.key: tuple[str, object] | None = None
        self.index = RuleIndex()
        #: How many times this process built or updated its index (the metrics show it).
        self.rebuilds = 0
        #: The last change of the log the index holds (None: update by a rebuild).
        self.position: Position | None = None


_cache = _IndexCache()


class _Version(enum.Enum):
    """A version not passed (an enum member, so ``is`` tells it from any version)."""

    UNREAD = "unread"


#: ``get_index()`` reads the rule set's version itself unless the caller passes it.
_UNREAD: Final = _Version.UNREAD


@dataclass(frozen=True)
class IndexStats:
    """This process's rule index, for the metrics: the active rules in it, those left out
    (criteria that do not parse), and how many times the process built it."""

    rules: int
    skipped: int
    rebuilds: int


@dataclass
class NonMatch:
    """A rule that does not get an alert, and why: the matchers the labels fail."""

    rule: SlackIntegrationRule
    #: The matchers the labels fail.
    mismatches: list[Verdict]
    inactive: bool
    #: The matchers the labels pass.
    passed: list[Verdict] = field(default_factory=list)


@dataclass
class MatchReport:
    """Which rules get an alert's labels, and why the others do not (the match tester)."""

    labels: Labels
    #: The active rules that match, best first.
    candidates: list[SlackIntegrationRule]
    #: The ones that get the alert: the first, and the next while one continues matching.
    selected: list[SlackIntegrationRule] = field(default_factory=list)
    #: The best-ranked rules that do not match (at most the limit asked for).
    others: list[NonMatch] = field(default_factory=list)
    #: How many rules do not match in all.
    others_total: int = 0
    #: Active rules whose criteria do not parse, left out of matching: (name, why).
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def winner(self) -> SlackIntegrationRule | None:
        return self.selected[0] if self.selected else None


class SlackRuleMatcherService:
    """Finds the active rules that get an alert's labels."""

    def find_matching_rules(self, alert_labels: RawLabels | None) -> list[SlackIntegrationRule]:
        """The rules that get the alert, best first: the first matching active rule, and
        while the rule just taken has ``continue_matching``, the next matching one too.

        One small query per call (the rule-set version); the rules come from the index,
        as copies the caller may change freely.
        """
        return self.match(alert_labels)[0]

    def match(
        self, alert_labels: RawLabels | None
    ) -> tuple[list[SlackIntegrationRule], str | None]:
        """:meth:`find_matching_rules`, and the rule-set version they were matched at, as
        text (None when the version row is missing): the handler passes it to the task,
        whose :meth:`cached_rule` then needs no query."""
        index, version = self._indexed()
        selected = index.select(normalize_labels(alert_labels))
        rules = [_copy_rule(compiled.rule) for compiled in selected]
        return rules, None if version is None else str(version)

    def find_matching_rule(self, alert_labels: RawLabels | None) -> SlackIntegrationRule | None:
        """The first of :meth:`find_matching_rules`, or None when no active rule matches."""
        compiled = self.get_index().match(normalize_labels(alert_labels))
        return None if compiled is None else _copy_rule(compiled.rule)

    def explain(self, alert_labels: RawLabels | None) -> list[SlackIntegrationRule]:
        """All active rules that match, best first (the first one gets the alert)."""
        candidates = self.get_index().candidates(normalize_labels(alert_labels))
        return [_copy_rule(c.rule) for c in candidates]

    def report(self, alert_labels: RawLabels | None, *, others_limit: int) -> MatchReport:
        """The rules that match and get the alert, and the reasons of the ``others_limit``
        best that do not."""
        labels = normalize_labels(alert_labels)
        index = self.get_index()
        candidates = [_copy_rule(c.rule) for c in index.candidates(labels)]
        selected = [_copy_rule(c.rule) for c in index.select(labels)]
        rest = SlackIntegrationRule.objects.exclude(pk__in=[rule.pk for rule in candidates])
        rest = rest.order_by("-priority", "name")
        # The reasons are worked out for the rules shown only; the rest is a count.
        others = []
        for rule in rest[:others_limit]:
            found = explain_criteria(rule.match_criteria, labels)
            others.append(
                NonMatch(
                    rule=rule,
                    mismatches=[verdict for verdict in found if not verdict.passed],
                    inactive=not rule.is_active,
                    passed=[verdict for verdict in found if verdict.passed],
                )
            )
        total = len(others) if len(others) < others_limit else rest.count()
        return MatchReport(
            labels=labels,
            candidates=candidates,
            selected=selected,
            others=others,
            others_total=total,
            skipped=list(index.skipped),
        )

    def get_rule(self, rule_id: Id, version: object) -> SlackIntegrationRule | None:
        """The active rule ``rule_id`` from the index of the rule set ``version`` (which the
        caller has just read with ``RuleSetVersion.read()``), as a copy; None if not active."""
        return _rule_in(self.get_index(version), rule_id)

    def cached_rule(self, rule_id: Id, version: str) -> SlackIntegrationRule | None:
        """The active rule ``rule_id`` from this process's index, without a query, when the
        index is cached at the rule set ``version`` (text, as :meth:`match` gave it), as a
        copy; None when the index is at another version (or none), or has no such rule."""
        key = _cache.key  # read before the index: a rebuild sets the index first
        index = _cache.index
        alias = router.db_for_read(SlackIntegrationRule)
        if key is None or key[0] != alias or str(key[1]) != version:
            return None
        return _rule_in(index, rule_id)

    def index_stats(self) -> IndexStats:
        """The index at the rule set's current version (rebuilt first if it has moved)."""
        index = self.get_index()
        return IndexStats(rules=index.size, skipped=len(index.skipped), rebuilds=_cache.rebuilds)

    def get_index(self, version: object = _UNREAD) -> RuleIndex:
        """The index of the active rules, rebuilt when the rule set's version has moved."""
        return self._indexed(version)[0]

    def _indexed(self, version: object = _UNREAD) -> tuple[RuleIndex, object]:
        """The index, and the version read (or passed) for it; None when there is no version
        row (then nothing is cached)."""
        alias = router.db_for_read(SlackIntegrationRule)
        if version is _UNREAD:
            version = RuleSetVersion.current(alias)
        version = _as_uuid(version)
        # No version row (a database flushed by tests): build every time, cache nothing.
        key = (alias, version) if version is not None else None
        if key is not None and _cache.key == key:
            return _cache.index, version
        with _cache.lock:
            if key is None or _cache.key != key:
                index, position, key = _updated(alias, key)
                _cache.index, _cache.position, _cache.key = index, position, key
                _cache.rebuilds += 1
            # The index may be newer than the version read (changes read since): its own.
            return _cache.index, version if _cache.key is None else _cache.key[1]


def _updated(
    alias: str, key: tuple[str, object] | None
) -> tuple[RuleIndex, Position | None, tuple[str, object] | None]:
    """The cached index with the rules changed since its position, or a new build; its
    position in the log, and the version it is at."""
    cached, position = _cache.index, _cache.position
    if key is not None and position is not None and _cache.key and _cache.key[0] == alias:
        changes = RuleChange.since(alias, position, key[1])
        if changes is not None:
            index = update_index(cached, changes.rule_ids, alias)
            logger.debug(
                "Updated the rule index: %d changed rule(s), %d active rules (version %s)",
                len(changes.rule_ids),
                index.size,
                changes.position[1],
            )
            return index, changes.position, (alias, changes.position[1])
    # The version was read before the log and the rules: if a change commits in between,
    # the index is newer than its version, and the next match reads that change again.
    position = RuleChange.latest(alias) if key is not None else None
    index = build_index(SlackIntegrationRule.objects.using(alias).active())
    logger.debug("Rebuilt the rule index: %d active rules (version %s)", index.size, key)
    return index, position, key


def _as_uuid(version: object) -> object:
    """The version as a UUID, whatever the database driver returned (a UUID, or its hex)."""
    if version is None or isinstance(version, uuid.UUID):
        return version
    try:
        return uuid.UUID(str(version))
    except ValueError:
        return version


def update_index(index: RuleIndex, rule_ids: Iterable[Id], alias: str) -> RuleIndex:
    """``index`` with the rules ``rule_ids`` reloaded: the active ones put back (edited),
    the others (deleted, deactivated) taken out."""
    rule_ids = list(rule_ids)
    rows = SlackIntegrationRule.objects.using(alias).filter(pk__in=rule_ids, is_active=True)
    compiled, skipped = compile_rules(rows)
    return index.updated(rule_ids, compiled, skipped)


def build_index(rules: Iterable[SlackIntegrationRule]) -> RuleIndex:
    """Compile ``rules`` into an index. A rule whose criteria do not parse (a row written
    around validation) is left out and logged, so it cannot stop the other rules."""
    return RuleIndex.build(*compile_rules(rules))


def _rule_in(index: RuleIndex, rule_id: Id) -> SlackIntegrationRule | None:
    """A copy of the active rule ``rule_id`` of ``index``; None if it has none."""
    compiled = index.by_id.get(rule_id)
    return None if compiled is None else _copy_rule(compiled.rule)


def _copy_rule(compiled: object) -> SlackIntegrationRule:
    """A copy of a cached rule that a caller may change without touching the index.

    ``compiled`` is a :class:`~django_slack_rules.matching.compiled.CompiledRule`'s ``rule``:
    this module's indexes are built from model instances only (:func:`build_index`)."""
    rule = cast(SlackIntegrationRule, compiled)
    duplicate = copy.copy(rule)
    criteria = rule.match_criteria
    duplicate.match_criteria = (
        list(criteria) if isinstance(criteria, list) else dict(criteria or {})
    )
    return duplicate
