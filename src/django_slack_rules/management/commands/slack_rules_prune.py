"""Delete old finished delivery records."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from django_slack_rules.models import DeliveryState, SlackDelivery


class Command(BaseCommand):
    help = (
        "Delete delivery records older than --days that are finished (sent, cancelled or "
        "folded into a digest; "
        "with --include-failed, failed too). Pending and sending ones are never deleted."
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

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 0:
            raise CommandError("--days must be zero or more.")
        states = [DeliveryState.SENT, DeliveryState.CANCELLED, DeliveryState.DIGESTED]
        if options["include_failed"]:
            states.append(DeliveryState.FAILED)
        cutoff = timezone.now() - datetime.timedelta(days=options["days"])
        old = SlackDelivery.objects.filter(state__in=states, created_at__lt=cutoff)
        if options["dry_run"]:
            count = old.count()
            self.stdout.write(f"{count} delivery record(s) would be deleted.")
            return
        count, _ = old.delete()
        self.stdout.write(self.style.SUCCESS(f"{count} delivery record(s) deleted."))
