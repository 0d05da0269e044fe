"""Print each destination's pace: its line, next slot, pause, last 429 and digests."""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from django_slack_rules.conf import slack_rules_settings
from django_slack_rules.services.status import DestinationStatus, destinations
from django_slack_rules.typing import OptionValue

COLUMNS = ("destination", "waiting", "next slot", "paused until", "last 429", "digests (1 h)")


class Command(BaseCommand):
    help = (
        "Show how each Slack destination absorbs a storm: the deliveries waiting for a "
        "slot, when the next slot opens, Slack's 429 pause (until when, and the last 429) "
        "and the digests sent in the last hour."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all",
            action="store_true",
            help="Also list idle destinations (every one ever paced); by default only busy ones.",
        )

    def handle(self, *args: object, **options: OptionValue) -> None:
        self.stdout.write(describe_settings())
        rows = destinations(everything=options["all"])
        if not rows:
            self.stdout.write(self.style.SUCCESS("No destination is busy: nothing waits."))
            return
        now = timezone.now()
        table = [COLUMNS, *(cells(row, now) for row in rows)]
        widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
        for number, line in enumerate(table):
            text = "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
            self.stdout.write(self.style.MIGRATE_HEADING(text) if number == 0 else text)
        waiting = sum(row.backlog for row in rows)
        self.stdout.write(f"{waiting} delivery(ies) waiting for a slot.")


def describe_settings() -> str:
    rate = slack_rules_settings.CHANNEL_RATE
    if rate is None:
        return 'Pacing is off (SLACK_RULES["CHANNEL_RATE"] is None).'
    after = slack_rules_settings.DIGEST_AFTER
    digests = "never a digest" if after is None else f"a digest when more than {after} wait"
    return (
        f"Pacing: {rate:g} message(s)/s per destination, bursts of "
        f"{slack_rules_settings.CHANNEL_BURST}; {digests}."
    )


def cells(row: DestinationStatus, now: datetime.datetime) -> tuple[str, ...]:
    return (
        row.destination,
        str(row.backlog),
        relative(row.next_slot, now) if row.next_slot else "now",
        relative(row.paused_until, now) if row.paused_until else "-",
        relative(row.last_429, now) if row.last_429 else "-",
        str(row.digests),
    )


def relative(moment: datetime.datetime, now: datetime.datetime) -> str:
    """``12:00:05 (in 3.2s)`` or ``11:58:00 (2m ago)``, in the current time zone."""
    seconds = (moment - now).total_seconds()
    span = abs(seconds)
    amount = f"{span:.1f}s" if span < 60 else f"{span / 60:.0f}m"
    when = f"in {amount}" if seconds >= 0 else f"{amount} ago"
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return f"{local:%H:%M:%S} ({when})"
