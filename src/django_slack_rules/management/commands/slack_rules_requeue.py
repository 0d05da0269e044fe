"""Queue pending deliveries again: after a broker outage, a lost task message or a dead worker."""

from __future__ import annotations

import datetime
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from django_slack_rules.conf import slack_rules_settings
from django_slack_rules.models import DeliveryState, DestinationPace, SlackDelivery
from django_slack_rules.services.delivery import lease_seconds
from django_slack_rules.services.pacing import drain_lease
from django_slack_rules.tasks import enqueue, send_slack_delivery


class Command(BaseCommand):
    help = (
        "Queue again the Slack deliveries that no task is working on: pending ones not "
        "touched for --older-than seconds (e.g. recorded while the Celery broker was down), "
        "and ones left in 'sending' by a worker that died. Each is still sent at most once. "
        "Deliveries waiting for a slot of a destination whose drain is due are left to it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Only deliveries untouched for this long. Default: RETRY_BACKOFF_MAX plus the "
            "send lease, so a delivery waiting for its scheduled retry is left alone.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be queued; queue nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        older_than = options["older_than"]
        if older_than is None:
            older_than = slack_rules_settings.RETRY_BACKOFF_MAX + lease_seconds()
        if older_than < 0:
            raise CommandError("--older-than must be zero or more seconds.")
        now = timezone.now()
        stale = now - datetime.timedelta(seconds=older_than)
        abandoned = now - datetime.timedelta(seconds=lease_seconds())
        deliveries = SlackDelivery.objects.filter(
            Q(state=DeliveryState.PENDING, updated_at__lt=stale)
            | Q(state=DeliveryState.SENDING, claimed_at__lt=abandoned)
        ).order_by("created_at")
        # A delivery waiting for its destination's slot is the drain's, while one is due.
        drained = DestinationPace.objects.filter(drain_at__gte=time.time() - drain_lease())
        deliveries = deliveries.exclude(
            Q(waiting_since__isnull=False)
            & Q(channel__in=list(drained.values_list("destination", flat=True)))
        )

        queued = 0
        for delivery in deliveries.iterator():
            line = (
                f"#{delivery.pk} {delivery.state} rule {delivery.rule_name!r} "
                f"fingerprint={delivery.fingerprint} to {delivery.channel}"
            )
            if options["dry_run"]:
                self.stdout.write(f"would queue {line}")
                queued += 1
                continue
            try:
                enqueue(send_slack_delivery, delivery.pk)
            except Exception as exc:
                raise CommandError(
                    f"Could not queue delivery #{delivery.pk} ({type(exc).__name__}: {exc}); "
                    f"{queued} queued before it. Is the Celery broker reachable? Nothing is "
                    "lost: run the command again once it is."
                ) from exc
            self.stdout.write(f"queued {line}")
            queued += 1
        verb = "would be queued" if options["dry_run"] else "queued"
        self.stdout.write(self.style.SUCCESS(f"{queued} delivery(ies) {verb}."))
