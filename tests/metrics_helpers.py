"""Reading a scrape of the metrics view, and what the delivery log says it should show."""

from __future__ import annotations

import datetime
import itertools
from collections import Counter
from typing import Any

from django.db.models import F
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from django_slack_rules.models import STATUS_DIGEST, MetricsTally, SlackDelivery

TOKEN = "scrape-token-for-tests-only"
_keys = itertools.count()

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape: (name, labels) → value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def by(samples: Samples, name: str, *labels: str) -> Counter[tuple[str, ...]]:
    """The samples of ``name`` summed by ``labels`` (zeros left out)."""
    found: Counter[tuple[str, ...]] = Counter()
    for (sample_name, sample_labels), value in samples.items():
        if sample_name == name and value:
            values = dict(sample_labels)
            found[tuple(values.get(label, "") for label in labels)] += int(value)
    return found


def counters(samples: Samples) -> Samples:
    """The counters and the histogram of a scrape (not the gauges, which move with time)."""
    ends = ("_total", "_bucket", "_count", "_sum")
    return {key: v for key, v in samples.items() if key[0].endswith(ends)}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def log_outcomes() -> Counter[tuple[str, ...]]:
    """What ``slack_rules_notifications_total`` must say: the log's settled records by
    channel, rule (``(digest)`` for a digest) and state."""
    found: Counter[tuple[str, ...]] = Counter()
    for channel, rule, status, state in SlackDelivery.objects.values_list(
        "channel", "rule_name", "alert_status", "state"
    ):
        if state in ("sent", "failed", "cancelled", "digested"):
            found[(channel, "(digest)" if status == STATUS_DIGEST else rule, state)] += 1
    return found


def log_failures() -> Counter[tuple[str, ...]]:
    found: Counter[tuple[str, ...]] = Counter()
    for channel, rule, reason in SlackDelivery.objects.filter(state="failed").values_list(
        "channel", "rule_name", "failure_reason"
    ):
        found[(channel, rule, reason or "other")] += 1
    return found


def log_recorded() -> Counter[tuple[str, ...]]:
    found: Counter[tuple[str, ...]] = Counter()
    for channel, rule, status in SlackDelivery.objects.values_list(
        "channel", "rule_name", "alert_status"
    ):
        found[(channel, "(digest)" if status == STATUS_DIGEST else rule)] += 1
    return found


def log_sent_on_their_own() -> Counter[tuple[str, ...]]:
    """What the latency histogram's ``_count`` must say, by channel."""
    found: Counter[tuple[str, ...]] = Counter()
    sent = SlackDelivery.objects.filter(state="sent").exclude(alert_status=STATUS_DIGEST)
    for (channel,) in sent.values_list("channel"):
        found[(channel,)] += 1
    return found


def assert_agrees_with_log(samples: Samples) -> None:
    """Every counter of the scrape agrees with the delivery log."""
    assert by(samples, "slack_rules_notifications_total", "channel", "rule", "outcome") == (
        log_outcomes()
    )
    assert by(samples, "slack_rules_notifications_failed_total", "channel", "rule", "reason") == (
        log_failures()
    )
    assert by(samples, "slack_rules_notifications_recorded_total", "channel", "rule") == (
        log_recorded()
    )
    assert by(samples, "slack_rules_notification_latency_seconds_count", "channel") == (
        log_sent_on_their_own()
    )


def make_delivery(**fields: Any) -> SlackDelivery:
    """A delivery record as the package writes them (``created_at`` may be given)."""
    created = fields.pop("created_at", None)
    n = next(_keys)
    values: dict[str, Any] = {
        "rule_name": "web",
        "alert_id": str(n),
        "alert_status": "firing",
        "idempotency_key": f"metrics-test-{n}",
        "channel": "#web",
        "state": "pending",
    }
    values.update(fields)
    delivery = SlackDelivery.objects.create(**values)
    if created is not None:
        SlackDelivery.objects.filter(pk=delivery.pk).update(created_at=created)
        delivery.created_at = created
    return delivery


def time_passes(delta: datetime.timedelta = datetime.timedelta(hours=1)) -> None:
    """As if ``delta`` passed: every record, its send and the tally's mark move back by it
    (so the next scrape's mark passes the records made before it)."""
    SlackDelivery.objects.update(created_at=F("created_at") - delta)
    SlackDelivery.objects.filter(sent_at__isnull=False).update(sent_at=F("sent_at") - delta)
    MetricsTally.objects.filter(counted_until__isnull=False).update(
        counted_until=F("counted_until") - delta
    )


def ago(**delta: float) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**delta)
