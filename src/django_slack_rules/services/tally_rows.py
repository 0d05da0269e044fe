"""Reading the delivery records for the tally (:mod:`.tally`): the records made in a span of
time, grouped in the database by what the counters tell apart, and the deliveries the tally
remembers until they settle."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Optional

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)

from ..models import (
    FINAL_STATES,
    STATUS_DIGEST,
    DeliveryState,
    MetricsOpenDelivery,
    SlackDelivery,
)
from .metric_labels import DIGEST_RULE

#: Upper bounds (seconds) of the latency histogram's buckets; +Inf follows.
LATENCY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
IN_FLIGHT = (str(DeliveryState.PENDING), str(DeliveryState.SENDING))
SENT, FAILED = str(DeliveryState.SENT), str(DeliveryState.FAILED)
#: SQLite takes few parameters per statement.
CHUNK = 500
#: Up to this many remembered deliveries are looked up by id (more: by a join).
FEW = 2000


class Group(NamedTuple):
    """Records alike for the counters: raw channel and rule name, and how many."""

    channel: str
    rule: str
    state: str
    reason: str
    bucket: int
    n: int
    seconds: float
    open: bool = False
    #: Made since the tally's new mark: shown, not stored.
    live: bool = False


ROW_FIELDS = (
    "pk",
    "channel",
    "rule_name",
    "alert_status",
    "state",
    "failure_reason",
    "created_at",
    "sent_at",
)


#: One delivery's record, its fields as ``ROW_FIELDS``: pk, channel, rule name, alert status,
#: state, failure reason, created, sent (or None).
Row = tuple[int, str, str, str, str, str, datetime.datetime, Optional[datetime.datetime]]


def open_settled(using: str) -> list[Row]:
    """The remembered deliveries that have settled since (their records, read once).

    Usually few are remembered: their ids are read first and looked up by primary key (a
    join would let PostgreSQL read the whole log when it misjudges the small table)."""
    remembered = MetricsOpenDelivery.objects.using(using).values_list("delivery_id", flat=True)
    ids = list(remembered[: FEW + 1])
    settled = SlackDelivery.objects.using(using).filter(state__in=FINAL_STATES).order_by()
    if len(ids) > FEW:  # a storm's line: join
        return list(settled.filter(pk__in=Subquery(remembered)).values_list(*ROW_FIELDS))
    found: list[Row] = []
    for start in range(0, len(ids), CHUNK):
        chunk = settled.filter(pk__in=ids[start : start + CHUNK])
        found += chunk.values_list(*ROW_FIELDS)
    return found


def forget(using: str, ids: Sequence[int]) -> None:
    """Forget the deliveries ``ids`` (counted now)."""
    manager = MetricsOpenDelivery.objects.using(using)
    for start in range(0, len(ids), CHUNK):
        manager.filter(delivery_id__in=ids[start : start + CHUNK]).delete()


def forget_deleted(using: str) -> None:
    """Forget the deliveries deleted while remembered (by hand: pruning keeps them)."""
    manager = MetricsOpenDelivery.objects.using(using)
    existing = (
        SlackDelivery.objects.using(using)
        .filter(pk__in=Subquery(manager.values("delivery_id")))
        .order_by()
        .values("pk")
    )
    manager.exclude(delivery_id__in=Subquery(existing)).delete()


def remember_in_flight(using: str, until: datetime.datetime) -> None:
    """Remember the deliveries in flight made before ``until`` that are not yet."""
    remembered = MetricsOpenDelivery.objects.using(using).values("delivery_id")
    ids = list(
        SlackDelivery.objects.using(using)
        .filter(state__in=IN_FLIGHT, created_at__lt=until)
        .exclude(pk__in=Subquery(remembered))
        .order_by()
        .values_list("pk", flat=True)
    )
    if ids:
        MetricsOpenDelivery.objects.using(using).bulk_create(
            [MetricsOpenDelivery(delivery_id=pk) for pk in ids], batch_size=CHUNK
        )


def aggregate(
    using: str, start: datetime.datetime | None, split: datetime.datetime | None
) -> list[Group]:
    """The deliveries made since ``start`` (None: all), grouped in the database by what the
    counters tell apart, and by whether they were made since ``split`` (``Group.live``;
    None: none is)."""
    found = grouped(using, start or _first(), split or _last())
    return [
        Group(
            row["channel"],
            DIGEST_RULE if row["is_digest"] else row["rule_name"],
            row["state"],
            row["failure_reason"],
            int(row["bucket"]),
            int(row["n"]),
            _seconds(row["latency"]) if row["bucket"] >= 0 else 0.0,
            bool(row["is_open"]),
            bool(row["is_live"]),
        )
        for row in found
    ]


def grouped(
    using: str, start: datetime.datetime, split: datetime.datetime
) -> QuerySet[SlackDelivery, dict[str, Any]]:  # Any: the ORM's .values() rows
    """:func:`aggregate`'s query. Every state is named, so PostgreSQL reads the span from
    the (state, created) index."""
    sent = Q(state=DeliveryState.SENT, sent_at__isnull=False) & ~Q(alert_status=STATUS_DIGEST)
    whens = [
        When(
            sent & Q(sent_at__lte=F("created_at") + datetime.timedelta(seconds=bound)),
            then=Value(i),
        )
        for i, bound in enumerate(LATENCY_BUCKETS)
    ]
    whens.append(When(sent, then=Value(len(LATENCY_BUCKETS))))
    latency = ExpressionWrapper(F("sent_at") - F("created_at"), output_field=DurationField())
    remembered = MetricsOpenDelivery.objects.using(using).values("delivery_id")
    return (
        SlackDelivery.objects.using(using)
        .filter(state__in=DeliveryState.values, created_at__gte=start)
        .order_by()
        .annotate(
            bucket=Case(*whens, default=Value(-1), output_field=IntegerField()),
            is_digest=Case(
                When(alert_status=STATUS_DIGEST, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            is_open=Case(
                When(pk__in=Subquery(remembered), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            is_live=Case(
                When(created_at__gte=split, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        .values(
            "channel",
            "rule_name",
            "is_digest",
            "state",
            "failure_reason",
            "bucket",
            "is_open",
            "is_live",
        )
        .annotate(n=Count("pk"), latency=Sum(latency))
    )


def _moment(year: int, microsecond: int = 0) -> datetime.datetime:
    moment = datetime.datetime(year, 1, 1, microsecond=microsecond)
    return moment.replace(tzinfo=datetime.timezone.utc) if settings.USE_TZ else moment


def _first() -> datetime.datetime:
    return _moment(1900)  # no delivery is older


def _last() -> datetime.datetime:
    return _moment(9000)  # nor newer


def _seconds(total: datetime.timedelta | float | None) -> float:
    """A sum of latencies as the database gives it: an interval (PostgreSQL), or a number of
    microseconds (SQLite, MariaDB)."""
    if total is None:
        return 0.0
    if isinstance(total, datetime.timedelta):
        return total.total_seconds()
    return float(total) / 1_000_000


def grouped_rows(rows: Iterable[Row]) -> Iterable[Group]:
    """Records read one by one (their fields as ``ROW_FIELDS``), as groups of one."""
    for _pk, channel, rule, alert_status, state, reason, created, sent_at in rows:
        digest = alert_status == STATUS_DIGEST
        bucket, seconds = -1, 0.0
        if state == SENT and sent_at is not None and not digest:
            latency = sent_at - created
            bucket = next(
                (
                    i
                    for i, bound in enumerate(LATENCY_BUCKETS)
                    if latency <= datetime.timedelta(seconds=bound)
                ),
                len(LATENCY_BUCKETS),
            )
            seconds = latency.total_seconds()
        yield Group(channel, DIGEST_RULE if digest else rule, state, reason, bucket, 1, seconds)
