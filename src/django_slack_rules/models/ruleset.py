"""The log of rule changes, so that each process updates its rule index with the rules that
changed instead of rebuilding it.

Every rule change (save, delete, and the bulk ``update``/``bulk_create``/``bulk_update``)
moves the rule set's version (:class:`~.coordination.RuleSetVersion`) and, in the same
transaction and right after it, writes one :class:`RuleChange` row per changed rule, with
the version the change moved the rule set to. The version's row lock is held from the bump
to the commit, so change ids are given out in commit order: a process that has read the
changes up to id N never sees a later commit with an id below N. A process keeps the
position (id and version) of the last change it read; when the version moves, it reads the
changes after it, reloads only those rules, and its index is then at the version of the
last change read.

It rebuilds the whole index only when it must: a bulk change of more than
:data:`MAX_RULES` rules (logged as one row for every rule), a version that no logged change
moved to (a rule table changed around the ORM), or a position no longer in the log (pruned
after :data:`KEEP` changes, or a change rolled back: its version tells).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import models
from django.db.models import Max
from django.utils.translation import gettext_lazy as _

from ..typing import Id

#: Changes kept in the log; a process further behind rebuilds its index.
KEEP = 2000
#: The log is pruned when a change's id crosses a multiple of this.
PRUNE_EVERY = 200
#: More changed rules than this in one step: one "every rule" row, and a full rebuild.
MAX_RULES = 500

#: Where a process is in the log: the id and the version of the last change it read.
Position = tuple[int, object]


@dataclass(frozen=True)
class Changes:
    """The rules changed since a position, and the new position (whose version the index is
    at once they are reloaded)."""

    rule_ids: frozenset[int]
    position: Position


class RuleChange(models.Model):
    """One changed rule (``rule_id``), or every rule (``rule_id`` null), and the rule set's
    version after the change."""

    id = models.BigAutoField(primary_key=True)
    rule_id = models.BigIntegerField(_("rule id"), null=True, blank=True)
    #: The version the change moved the rule set to (``RuleSetVersion.version``); it also
    #: tells a change from a rolled-back one that had the same id (SQLite reuses ids).
    version = models.UUIDField(_("version"), default=uuid.uuid4, editable=False)

    class Meta:
        verbose_name = _("rule change")
        verbose_name_plural = _("rule changes")

    def __str__(self) -> str:
        return f"change {self.id}: rule {self.rule_id if self.rule_id is not None else 'all'}"

    @classmethod
    def record(
        cls, using: str, rule_ids: Iterable[Id | None] | None, version: uuid.UUID | str | None
    ) -> None:
        """Log a change of ``rule_ids`` (None: of any rule) to ``version``. Call it inside the
        transaction of the change, right after ``RuleSetVersion.bump`` (whose row lock
        orders the ids)."""
        ids = None if rule_ids is None else list(dict.fromkeys(rule_ids))
        if ids is not None and (None in ids or len(ids) > MAX_RULES):
            ids = None
        version = version or uuid.uuid4()
        rows = [
            cls(rule_id=rule_id, version=version)
            for rule_id in (ids if ids is not None else [None])
        ]
        manager = cls.objects.using(using)
        created = manager.bulk_create(rows)
        numbers = [row.id for row in created if row.id is not None]
        if len(numbers) != len(rows):
            numbers = [manager.aggregate(last=Max("id"))["last"] or 0]
        first, last = min(numbers), max(numbers)
        if (first - 1) // PRUNE_EVERY != last // PRUNE_EVERY:
            manager.filter(id__lte=last - KEEP).delete()

    @classmethod
    def latest(cls, using: str) -> Position | None:
        """The position of the newest change (read it before loading every rule)."""
        row = cls.objects.using(using).order_by("-id").values_list("id", "version").first()
        return None if row is None else (row[0], row[1])

    @classmethod
    def since(cls, using: str, position: Position, version: object) -> Changes | None:
        """The rules changed after ``position``, up to (at least) the rule set's ``version``
        just read; None when the index must be rebuilt."""
        rows: Sequence[tuple[int, object, int | None]] = list(
            cls.objects.using(using)
            .filter(id__gte=position[0])
            .order_by("id")
            .values_list("id", "version", "rule_id")[: MAX_RULES + 2]
        )
        if not rows or (rows[0][0], rows[0][1]) != position:
            return None  # pruned past us, or our position was a change rolled back
        if all(row[1] != version for row in rows):
            return None  # no logged change moved the rule set to this version
        later = rows[1:]
        if len(later) > MAX_RULES or any(row[2] is None for row in later):
            return None  # too many, or every rule
        last = rows[-1]
        return Changes(frozenset(row[2] for row in later if row[2] is not None), (last[0], last[1]))
