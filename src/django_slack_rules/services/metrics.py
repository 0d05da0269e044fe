"""What a scrape of the metrics view shows, as Prometheus metric families: the counters of
the tally (:mod:`.tally`), what is in flight now, Slack's pauses and the matcher's index.

Names mirror Alertmanager's where the meaning is the same (``alertmanager_notifications_total``,
``…_failed_total{reason}``, ``…_notification_latency_seconds``), with the prefix
``slack_rules_``. Everything but the matcher's two comes from the database, so one scrape
of one process tells what every worker did. docs/metrics.md explains each.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from django.db.models import BooleanField, Case, Count, Min, Q, Value, When
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..exceptions import FAILURE_REASONS
from ..models import DeliveryState, DestinationPause, SlackDelivery
from . import tally, tally_rows
from .metric_labels import DIGEST_RULE, LabelValues
from .slack_matcher import SlackRuleMatcherService

PREFIX = "slack_rules_"
#: The outcomes of ``slack_rules_notifications_total``, each shown (0 until it happens).
OUTCOMES = (
    str(DeliveryState.SENT),
    str(DeliveryState.FAILED),
    str(DeliveryState.CANCELLED),
    str(DeliveryState.DIGESTED),
)


class SlackRulesCollector(Collector):
    """Reads the database at each scrape (nothing is kept in the process but the matcher's
    own counts)."""

    def collect(self) -> Iterator[Metric]:
        snapshot = tally.scrape()
        yield from counters(snapshot)
        yield from in_flight(snapshot.labels)
        yield from matcher()


def counters(snapshot: tally.Snapshot) -> Iterator[Metric]:
    """The counters, summed under the label values shown now."""
    labels = snapshot.labels
    outcomes: dict[tuple[str, str, str], int] = {}
    failed: dict[tuple[str, str, str], int] = {}
    recorded: dict[tuple[str, str], int] = {}
    latency: dict[str, list[float]] = {}  # channel: count per bucket (+Inf last), then sum
    digests: dict[str, int] = {}
    for key, amount in snapshot.counts.items():
        channel, rule = labels.shown_channel(key.channel), labels.shown_rule(key.rule)
        if key.outcome == tally.RECORDED:
            _add(recorded, (channel, rule), amount.count)
            for outcome in OUTCOMES:
                _add(outcomes, (channel, rule, outcome), 0)
            for reason in FAILURE_REASONS:
                _add(failed, (channel, rule, reason), 0)
            continue
        _add(outcomes, (channel, rule, key.outcome), amount.count)
        if key.outcome == tally_rows.FAILED:
            _add(failed, (channel, rule, key.reason), amount.count)
        if key.bucket >= 0:
            row = latency.setdefault(channel, [0.0] * (len(tally.LATENCY_BUCKETS) + 2))
            row[key.bucket] += amount.count
            row[-1] += amount.seconds
        if rule == DIGEST_RULE and key.outcome == tally_rows.SENT:
            _add(digests, channel, amount.count)

    yield _counter(
        "notifications",
        "Notifications (delivery records) that reached an outcome: sent (Slack accepted "
        "it), failed (for good), cancelled, or digested (folded into a digest). A resent "
        "notification counts again when its resend ends.",
        ("channel", "rule", "outcome"),
        outcomes,
    )
    yield _counter(
        "notifications_failed",
        "Notifications that failed for good, by the hop that failed the last attempt.",
        ("channel", "rule", "reason"),
        failed,
    )
    yield _counter(
        "notifications_recorded",
        "Notifications recorded: an alert a rule took (or a digest, or a test send).",
        ("channel", "rule"),
        recorded,
    )
    yield _counter(
        "digests_sent",
        "Digests Slack accepted (each stands for several alerts).",
        ("channel",),
        {(channel,): n for channel, n in digests.items()},
    )
    histogram = HistogramMetricFamily(
        PREFIX + "notification_latency_seconds",
        "Seconds from the alert's processing (its delivery recorded) to Slack accepting the "
        "message, for each notification sent on its own (digests and what they folded are "
        "not observed).",
        labels=("channel",),
    )
    for channel, row in sorted(latency.items()):
        buckets, running = [], 0.0
        for bound, count in zip((*tally.LATENCY_BUCKETS, float("inf")), row[:-1]):
            running += count
            buckets.append((_le(bound), running))
        histogram.add_metric([channel], buckets, row[-1])
    yield histogram


def in_flight(labels: LabelValues) -> Iterator[Metric]:
    """What is not settled now: per channel, and the oldest; and Slack's pauses."""
    pending = str(DeliveryState.PENDING)
    rows = (
        SlackDelivery.objects.filter(state__in=tally.IN_FLIGHT)
        .order_by()
        .annotate(
            waiting=Case(
                When(state=pending, waiting_since__isnull=False, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            retrying=Case(
                When(Q(state=pending, attempts__gt=0) & ~Q(failure_reason=""), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        .values_list("channel", "waiting", "retrying", "failure_reason")
        .annotate(n=Count("pk"), oldest=Min("created_at"))
    )
    unsettled: dict[tuple[str], int] = {}
    waiting: dict[tuple[str], int] = {}
    retrying: dict[tuple[str, str], int] = {}
    oldest = None
    for channel, is_waiting, is_retrying, reason, n, first in rows:
        label = labels.shown_channel(labels.channel(channel))
        _add(unsettled, (label,), n)
        _add(waiting, (label,), n if is_waiting else 0)
        if is_retrying:
            _add(retrying, (label, reason), n)
        oldest = first if oldest is None else min(oldest, first)
    now = timezone.now()
    yield _gauge(
        "pending",
        "Notifications not settled yet: queued, waiting for their channel's slot, retrying "
        "or being sent.",
        ("channel",),
        unsettled,
    )
    yield _gauge(
        "waiting",
        "Notifications waiting for their channel's next slot (pacing).",
        ("channel",),
        waiting,
    )
    yield _gauge(
        "retrying",
        "Pending notifications whose last attempt failed, by the hop that failed it.",
        ("channel", "reason"),
        retrying,
    )
    age = GaugeMetricFamily(
        PREFIX + "oldest_pending_seconds",
        "Age of the oldest notification not settled yet (0 when there is none).",
    )
    age.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    yield age
    paused: dict[tuple[str], int] = {}
    for destination, until in DestinationPause.objects.values_list("destination", "paused_until"):
        label = labels.shown_channel(labels.channel(destination))
        paused[(label,)] = max(paused.get((label,), 0), int(until > now))
    yield _gauge(
        "paused",
        "1 while Slack's Retry-After pauses the channel (nothing is sent there), else 0.",
        ("channel",),
        paused,
    )


def matcher() -> Iterator[Metric]:
    """The rule index of this process (the scraped one)."""
    stats = SlackRuleMatcherService().index_stats()
    rules = GaugeMetricFamily(
        PREFIX + "rules_indexed", "Active rules in the matcher's index (criteria that parse)."
    )
    rules.add_metric([], stats.rules)
    yield rules
    skipped = GaugeMetricFamily(
        PREFIX + "rules_skipped",
        "Active rules left out of matching: their criteria do not parse.",
    )
    skipped.add_metric([], stats.skipped)
    yield skipped
    rebuilds = CounterMetricFamily(
        PREFIX + "rule_index_rebuilds",
        "Times this process built its rule index (a rule changed, or the process started).",
    )
    rebuilds.add_metric([], stats.rebuilds)
    yield rebuilds


def _le(bound: float) -> str:
    """A bucket's bound as Prometheus' clients write it: "0.5", "1.0", "+Inf"."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


_Key = TypeVar("_Key", bound=Sequence[str])


def _add(into: dict[_Key, int], key: _Key, n: int) -> None:
    into[key] = into.get(key, 0) + n


def _counter(
    name: str, documentation: str, names: Iterable[str], values: dict[_Key, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(PREFIX + name, documentation, labels=list(names))
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _gauge(
    name: str, documentation: str, names: Iterable[str], values: dict[_Key, int]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(PREFIX + name, documentation, labels=list(names))
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family
