"""Reading the delivery records for the tally (:mod:`.tally`): the records made in a span of
time, grouped in the database by what the counters tell apart, and the deliveries the tally
remembers until they settle."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

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
#: SQLite takes few parameters per statement.
CHUNK = 500


class Group(NamedTuple):
    """Records alike for the counters: raw channel and rule name, and how many."""

    channel: str
    rule: str
    state: str
    reason: str
    bucket: int
    count: int
    seconds: float
    open: bool = False


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


def open_settled(using: str) -> list[tuple[Any, ...]]:
    """The remembered deliveries that have settled since (their records, read once)."""
    remembered = MetricsOpenDelivery.objects.using(using).values("delivery_id")
    found = SlackDelivery.objects.using(using).filter(
        pk__in=Subquery(remembered), state__in=FINAL_STATES
    )
    return list(found.order_by().values_list(*ROW_FIELDS))


def forget(using: str, ids: Sequence[int]) -> None:
    """Forget the deliveries ``ids`` (counted now), and those deleted meanwhile."""
    manager = MetricsOpenDelivery.objects.using(using)
    for start in range(0, len(ids), CHUNK):
        manager.filter(delivery_id__in=ids[start : start + CHUNK]).delete()
    # Deleted meanwhile (by hand: pruning keeps them): nothing to count.
    gone = manager.exclude(
        delivery_id__in=Subquery(
            SlackDelivery.objects.using(using)
            .filter(pk__in=Subquery(manager.values("delivery_id")))
            .values("pk")
        )
    )
    gone.delete()


def remember_in_flight(using: str, until: datetime.datetime) -> None:
    """Remember the deliveries in flight made before ``until`` that are not yet."""
    remembered = MetricsOpenDelivery.objects.using(using).values("delivery_id")
    ids = list(
        SlackDelivery.objects.using(using)
        .filter(state__in=IN_FLIGHT, created_at__lt=until)
        .exclude(pk__in=Subquery(remembered))
        .values_list("pk", flat=True)
    )
    MetricsOpenDelivery.objects.using(using).bulk_create(
        [MetricsOpenDelivery(delivery_id=pk) for pk in ids], batch_size=CHUNK
    )


def window(
    using: str, start: datetime.datetime | None, end: datetime.datetime | None
) -> QuerySet[SlackDelivery]:
    """The deliveries made from ``start`` (None: the first) until before ``end`` (None: now).
    Every state is named, so PostgreSQL reads the range from the (state, created) index."""
    found = SlackDelivery.objects.using(using).filter(state__in=DeliveryState.values)
    if start is not None:
        found = found.filter(created_at__gte=start)
    if end is not None:
        found = found.filter(created_at__lt=end)
    return found


def aggregate(queryset: QuerySet[SlackDelivery]) -> list[Group]:
    """``queryset`` grouped by what the counters tell apart, in the database."""
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
    remembered = MetricsOpenDelivery.objects.using(queryset.db).values("delivery_id")
    rows = (
        queryset.order_by()
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
        )
        .values_list(
            "channel", "rule_name", "is_digest", "state", "failure_reason", "bucket", "is_open"
        )
        .annotate(n=Count("pk"), latency=Sum(latency))
    )
    return [
        Group(
            channel,
            DIGEST_RULE if digest else rule,
            state,
            reason,
            bucket,
            n,
            total.total_seconds() if bucket >= 0 and total is not None else 0.0,
            bool(is_open),
        )
        for channel, rule, digest, state, reason, bucket, is_open, n, total in rows
    ]


def grouped_rows(rows: Iterable[tuple[Any, ...]]) -> Iterable[Group]:
    """Records read one by one (their fields as ``ROW_FIELDS``), as groups of one."""
    for _pk, channel, rule, alert_status, state, reason, created, sent_at in rows:
        digest = alert_status == STATUS_DIGEST
        bucket, seconds = -1, 0.0
        if state == DeliveryState.SENT and sent_at is not None and not digest:
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
