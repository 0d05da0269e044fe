"""The counters behind the metrics, from the delivery records, at a cost that does not grow
with the log.

Every delivery is one record, and the records are the truth: a scrape of any process sees
what every worker did, and a restart loses nothing. Counting the whole log at each scrape
would not stay cheap, so a scrape counts once, into a small table (``MetricsCount``), the
records made before a moving mark (``MetricsTally.counted_until``, kept ``SETTLE_AFTER``
behind the clock so that a record committed a little late is still met), and adds the
records made since (few: the last minutes) without storing them. What each counter means:

- **recorded**: every delivery once, when it is recorded;
- **settled** (sent, failed, cancelled, digested): every time a delivery reaches one of them.
  A delivery still pending or sending when the mark passes it is remembered
  (``MetricsOpenDelivery``) and counted when it settles. A resend (failed or cancelled back
  to pending) tells the tally first (:func:`note_reopening`), so a resent delivery counts
  its failure and then, once more, how its resend ended;
- pruning deletes only records the tally has counted (:func:`prunable`), so no counter goes
  back when old records go.

Scrapes take turns: each starts by writing the tally's row (a row lock on PostgreSQL and
MariaDB, the database's write lock on SQLite), so two never count the same records. Nothing
here writes on a delivery's way to Slack.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import IntegrityError, router, transaction
from django.db.models import F, QuerySet, Subquery
from django.utils import timezone

from ..conf import slack_rules_settings
from ..models import (
    FINAL_STATES,
    MetricsCount,
    MetricsOpenDelivery,
    MetricsTally,
    SlackDelivery,
)
from . import tally_rows as rows
from .metric_labels import LabelValues
from .tally_rows import CHUNK, IN_FLIGHT, LATENCY_BUCKETS

__all__ = [
    "IN_FLIGHT",
    "LATENCY_BUCKETS",
    "SETTLE_AFTER",
    "Snapshot",
    "note_reopening",
    "prunable",
    "scrape",
]

#: How far behind the clock the mark stays: a record made before it must be committed by
#: the time the mark passes it (and the clocks of the machines agree within it).
SETTLE_AFTER = datetime.timedelta(minutes=5)
RECORDED = "recorded"


class Key(NamedTuple):
    """One count: label values (or "other"), the outcome, the failure reason of a failed
    one, and the latency bucket of a sent one (-1: none)."""

    channel: str
    rule: str
    outcome: str
    reason: str = ""
    bucket: int = -1


@dataclass
class Amount:
    count: int = 0
    seconds: float = 0.0

    def add(self, count: int, seconds: float) -> None:
        self.count += count
        self.seconds += seconds


@dataclass
class Snapshot:
    """The counters at one scrape: the tally and the records made since its mark."""

    counts: dict[Key, Amount] = field(default_factory=dict)
    labels: LabelValues = field(default_factory=LabelValues)


def scrape() -> Snapshot:
    """Bring the tally up to date and return it with the records made since its mark."""
    using = router.db_for_write(MetricsTally)
    _create(using)
    now = timezone.now()
    with transaction.atomic(using=using):
        tally = _lock(using, now, create=True)
        assert tally is not None
        stored = _stored(using)
        mark = tally.counted_until
        until = now - SETTLE_AFTER if mark is None else max(mark, now - SETTLE_AFTER)
        # What settled of the deliveries remembered; then remember those in flight behind
        # the new mark, before counting the mark's window, so that none is missed.
        settled_rows = rows.open_settled(using)
        rows.forget(using, [row[0] for row in settled_rows])
        rows.remember_in_flight(using, until)
        settled = list(rows.grouped_rows(settled_rows))
        groups = rows.aggregate(using, mark, until)
        window = [group for group in groups if not group.live]
        live = [group for group in groups if group.live]
        labels = _labels(tally)
        everything = (*settled, *window, *live)
        labels.admit((g.channel for g in everything), (g.rule for g in everything))
        changes = _counted(settled, labels, recorded=False)
        for key, amount in _counted(window, labels, recorded=True).items():
            changes.setdefault(key, Amount()).add(amount.count, amount.seconds)
        _store(using, stored, changes)
        tally.counted_until = until
        _save(using, tally, labels, "counted_until")
    for key, amount in _counted(live, labels, recorded=True).items():
        stored.setdefault(key, Amount()).add(amount.count, amount.seconds)
    return Snapshot(stored, labels)


def note_reopening(queryset: QuerySet[SlackDelivery]) -> None:
    """Call in the transaction that takes settled deliveries back to pending (a resend),
    before it does: each one's outcome so far is counted, and its next one will be."""
    using = router.db_for_write(MetricsTally)
    with transaction.atomic(using=using):
        tally = _lock(using, timezone.now(), create=False)
        if tally is None or tally.counted_until is None:
            return  # nothing counted yet: the first scrape counts what they end as
        mark = tally.counted_until
        found = list(queryset.filter(state__in=FINAL_STATES).values_list(*rows.ROW_FIELDS))
        ids = [row[0] for row in found]
        remembered: set[int] = set()
        for start in range(0, len(ids), CHUNK):
            chunk = MetricsOpenDelivery.objects.using(using).filter(
                delivery_id__in=ids[start : start + CHUNK]
            )
            remembered.update(chunk.values_list("delivery_id", flat=True))
        # Made since the mark, or remembered: not in the tally yet. Else counted already.
        counted = [row for row in found if row[6] >= mark or row[0] in remembered]
        forgotten = [row[0] for row in found if row[6] < mark and row[0] not in remembered]
        groups = list(rows.grouped_rows(counted))
        labels = _labels(tally)
        labels.admit((g.channel for g in groups), (g.rule for g in groups))
        _store(using, _stored(using), _counted(groups, labels, recorded=False))
        _save(using, tally, labels)
        MetricsOpenDelivery.objects.using(using).bulk_create(
            [MetricsOpenDelivery(delivery_id=pk) for pk in forgotten],
            batch_size=CHUNK,
            ignore_conflicts=True,
        )


def prunable(queryset: QuerySet[SlackDelivery]) -> QuerySet[SlackDelivery]:
    """The records of ``queryset`` that may be deleted without a counter going back: those
    the tally has counted (once metrics have been scraped, it is brought up to date first)."""
    using = router.db_for_write(MetricsTally)
    if not MetricsTally.objects.using(using).filter(counted_until__isnull=False).exists():
        return queryset  # never scraped: nothing to keep for the metrics
    scrape()
    rows.forget_deleted(using)
    mark = MetricsTally.objects.using(using).values_list("counted_until", flat=True).get()
    remembered = MetricsOpenDelivery.objects.using(using).values("delivery_id")
    return queryset.filter(created_at__lt=mark).exclude(pk__in=Subquery(remembered))


# -- the steps -----------------------------------------------------------------------------


def _create(using: str) -> None:
    """Make the tally's row, once, before any scrape takes its turn (two scrapes creating it
    inside their turns could deadlock on MariaDB)."""
    manager = MetricsTally.objects.using(using)
    if manager.filter(pk=MetricsTally.SINGLETON_ID).exists():
        return
    try:
        with transaction.atomic(using=using):
            manager.create(pk=MetricsTally.SINGLETON_ID)
    except IntegrityError:  # another scrape made it first
        pass


def _lock(using: str, now: datetime.datetime, *, create: bool) -> MetricsTally | None:
    """Take the tally's turn (write its row first) and read it; None when it has none."""
    manager = MetricsTally.objects.using(using)
    one = MetricsTally.SINGLETON_ID
    if not manager.filter(pk=one).update(taken_at=now):
        if not create:
            return None
        try:
            with transaction.atomic(using=using):
                manager.create(pk=one, taken_at=now)
        except IntegrityError:  # another scrape created it first
            manager.filter(pk=one).update(taken_at=now)
    return manager.get(pk=one)


def _labels(tally: MetricsTally) -> LabelValues:
    limit = int(slack_rules_settings.METRICS["MAX_LABEL_VALUES"])
    return LabelValues(tally.channels, tally.rules, limit)


def _save(using: str, tally: MetricsTally, labels: LabelValues, *fields: str) -> None:
    tally.channels, tally.rules = labels.channels, labels.rules
    tally.save(using=using, update_fields=["channels", "rules", *fields])


def _stored(using: str) -> dict[Key, Amount]:
    return {
        Key(*row[:5]): Amount(row[5], row[6])
        for row in MetricsCount.objects.using(using).values_list(
            "channel", "rule", "outcome", "reason", "bucket", "count", "seconds"
        )
    }


def _store(using: str, stored: dict[Key, Amount], changes: dict[Key, Amount]) -> None:
    """Add ``changes`` to the tally's counts (and to ``stored``, its copy)."""
    manager = MetricsCount.objects.using(using)
    for key, amount in changes.items():
        if not amount.count and not amount.seconds:
            continue
        if key in stored:
            stored[key].add(amount.count, amount.seconds)
            manager.filter(**key._asdict()).update(
                count=F("count") + amount.count, seconds=F("seconds") + amount.seconds
            )
        else:
            stored[key] = Amount(amount.count, amount.seconds)
            manager.create(**key._asdict(), count=amount.count, seconds=amount.seconds)


def _counted(
    groups: Iterable[rows.Group], labels: LabelValues, *, recorded: bool
) -> dict[Key, Amount]:
    """The counts ``groups`` add: each record once as recorded (``recorded``: they are new
    records, not settlements of records counted before), and its outcome once it settled
    (unless it is remembered: counted when it settles)."""
    changes: dict[Key, Amount] = {}
    for group in groups:
        channel, rule = labels.channel(group.channel), labels.rule(group.rule)
        if recorded:
            changes.setdefault(Key(channel, rule, RECORDED), Amount()).add(group.n, 0.0)
        if group.state not in FINAL_STATES or group.open:
            continue
        failed = group.state == rows.FAILED
        key = Key(channel, rule, group.state, (group.reason or "other") if failed else "")
        if group.bucket >= 0:
            key = key._replace(bucket=group.bucket)
        changes.setdefault(key, Amount()).add(group.n, group.seconds)
    return changes
