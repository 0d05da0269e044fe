"""Delete old finished delivery records, keeping what open alerts still need."""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from django_slack_rules.adapters import get_adapter
from django_slack_rules.conf import slack_rules_settings
from django_slack_rules.exceptions import SlackRulesConfigurationError
from django_slack_rules.models import (
    STATUS_FIRING,
    STATUS_RESOLVED,
    DeliveryState,
    SlackDelivery,
)
from django_slack_rules.services import tally
from django_slack_rules.typing import OptionValue

#: How many alerts are read from the host at a time.
CHUNK = 500


def latest_unresolved_firings(rows: QuerySet[SlackDelivery]) -> QuerySet[SlackDelivery]:
    """Those of ``rows`` that are the latest firing of their rule and alert, with no
    resolution recorded since: the first message a resolution threads under, and the
    occurrence a repeat of the alert is recognised by."""
    later = SlackDelivery.objects.filter(
        rule_id=OuterRef("rule_id"),
        alert_id=OuterRef("alert_id"),
        alert_status__in=[STATUS_FIRING, STATUS_RESOLVED],
        created_at__gt=OuterRef("created_at"),
    )
    return rows.filter(alert_status=STATUS_FIRING).exclude(Exists(later))


def still_firing(alert_ids: set[str]) -> set[str]:
    """Those of ``alert_ids`` whose alert the host still has, firing (read through the
    adapter, ``CHUNK`` at a time)."""
    if not alert_ids:
        return set()
    try:
        manager = slack_rules_settings.get_alert_model()._default_manager
    except SlackRulesConfigurationError:
        return set(alert_ids)  # the host's alerts cannot be read: keep them all
    adapter = get_adapter()
    ids = sorted(alert_ids)
    firing = set()
    for start in range(0, len(ids), CHUNK):
        for alert in manager.filter(pk__in=ids[start : start + CHUNK]):
            if adapter.get_status(alert) == STATUS_FIRING:
                firing.add(str(alert.pk))
    return firing


class Command(BaseCommand):
    help = (
        "Delete delivery records older than --days that are finished (sent, cancelled or "
        "folded into a digest; with --include-failed, failed too). Pending and sending ones "
        "are never deleted, nor the latest firing message of an alert that is still firing "
        "(its resolution threads under it, and a repeat is recognised by it), with its "
        "first message and its digest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=30, help="Keep records younger than this (default 30)."
        )
        parser.add_argument(
            "--include-failed",
            action="store_true",
            help="Also delete failed deliveries (by default they stay, so they can be resent).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: object, **options: OptionValue) -> None:
        if options["days"] < 0:
            raise CommandError("--days must be zero or more.")
        states = [DeliveryState.SENT, DeliveryState.CANCELLED, DeliveryState.DIGESTED]
        if options["include_failed"]:
            states.append(DeliveryState.FAILED)
        cutoff = timezone.now() - datetime.timedelta(days=options["days"])
        old = SlackDelivery.objects.filter(state__in=states, created_at__lt=cutoff)
        kept = self.kept(old)
        # Only what the metrics have counted, so that no counter goes back.
        doomed = tally.prunable(old.exclude(pk__in=kept) if kept else old)
        if options["dry_run"]:
            self.stdout.write(f"{doomed.count()} delivery record(s) would be deleted.")
            return
        count, _ = doomed.delete()
        self.stdout.write(self.style.SUCCESS(f"{count} delivery record(s) deleted."))

    def kept(self, old: QuerySet[SlackDelivery]) -> set[int]:
        """The ids of ``old`` rows open alerts still need."""
        candidates = list(
            latest_unresolved_firings(old).values_list("pk", "alert_id", "parent_id", "digest_id")
        )
        firing = still_firing({alert_id for _, alert_id, _, _ in candidates})
        kept: set[int] = set()
        for pk, alert_id, parent_id, digest_id in candidates:
            if alert_id in firing:
                kept.update(filter(None, (pk, parent_id, digest_id)))
        return kept
