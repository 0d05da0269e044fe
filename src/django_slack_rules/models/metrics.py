"""The metrics' tally: the delivery records counted so far, so that a scrape reads only the
records that changed since the last one (``services.tally`` keeps it; docs/metrics.md).

Nothing here is written on a delivery's way to Slack: a scrape writes these tables, and a
resend or a prune tells them first what it is about to change.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class MetricsTally(models.Model):
    """The one row that says how far the tally has counted, and which label values it gave
    out. A scrape writes it first, so scrapes (of any process) take turns: on PostgreSQL
    and MariaDB its UPDATE locks the row, on SQLite the database."""

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID)
    #: Every delivery recorded before this moment is counted in ``MetricsCount`` (in flight
    #: ones when they settle, through ``MetricsOpenDelivery``); None: nothing counted yet.
    counted_until = models.DateTimeField(_("counted until"), null=True, blank=True)
    #: The channels and rules given a label value of their own, in the order they came.
    channels = models.JSONField(_("channels"), default=list)
    rules = models.JSONField(_("rules"), default=list)
    #: When a scrape (or a resend) last took its turn.
    taken_at = models.DateTimeField(_("last taken"), null=True, blank=True)

    class Meta:
        verbose_name = _("metrics tally")

    def __str__(self) -> str:
        return f"metrics counted until {self.counted_until}"


class MetricsCount(models.Model):
    """How many deliveries of one channel and rule (label values, or "other") were recorded
    (``outcome`` "recorded") or settled (sent, failed, cancelled, digested) before
    ``MetricsTally.counted_until``: by failure reason for the failed ones, by latency
    bucket (an index into ``services.tally.LATENCY_BUCKETS``) for the sent ones, with the
    sum of their latencies."""

    channel = models.CharField(_("channel"), max_length=255)
    rule = models.CharField(_("rule"), max_length=255)
    outcome = models.CharField(_("outcome"), max_length=16)
    reason = models.CharField(_("failure reason"), max_length=32, blank=True)
    bucket = models.SmallIntegerField(_("latency bucket"), default=-1)
    count = models.BigIntegerField(_("count"), default=0)
    seconds = models.FloatField(_("latency seconds"), default=0.0)

    class Meta:
        verbose_name = _("metrics count")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "rule", "outcome", "reason", "bucket"],
                name="dsr_metrics_count_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.rule} {self.outcome}: {self.count}"


class MetricsOpenDelivery(models.Model):
    """A delivery recorded before ``counted_until`` that had not settled when the tally
    passed it (or was resent since): its outcome is counted when it settles."""

    delivery_id = models.BigIntegerField(_("delivery"), primary_key=True)

    class Meta:
        verbose_name = _("metrics open delivery")

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} not settled"
