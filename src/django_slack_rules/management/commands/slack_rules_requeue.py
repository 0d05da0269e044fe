"""Queue again what nothing is working on: the periodic recovery, run now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_slack_rules.tasks import requeue_stranded
from django_slack_rules.typing import OptionValue


class Command(BaseCommand):
    help = (
        "Queue again the Slack deliveries no task is working on, as the periodic task "
        "django_slack_rules.tasks.recover_stranded does every minute: pending ones untouched "
        'for SLACK_RULES["RECOVERY_AFTER"] seconds (e.g. recorded while the Celery broker '
        "was down), ones left in 'sending' by a worker that died, and lines of waiting "
        "deliveries without a drain. Each delivery is still sent once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="Only pending deliveries untouched (or past their retry's time) for this long. "
            'Default 0: every one (the periodic task waits SLACK_RULES["RECOVERY_AFTER"]). A '
            "delivery queued twice is still sent once.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be queued; queue nothing."
        )

    def handle(self, *args: object, **options: OptionValue) -> None:
        if options["older_than"] < 0:
            raise CommandError("--older-than must be zero or more seconds.")
        try:
            found = requeue_stranded(quiet_for=options["older_than"], dry_run=options["dry_run"])
        except Exception as exc:
            raise CommandError(
                f"Could not queue ({type(exc).__name__}: {exc}). Is the Celery broker "
                "reachable? Nothing is lost: the deliveries stay recorded; run the command "
                "again (or let the periodic task do it) once it is."
            ) from exc
        verb = "would be queued" if options["dry_run"] else "queued"
        for stranded in found.deliveries:
            self.stdout.write(
                f"{'would queue' if options['dry_run'] else 'queued'} #{stranded.pk} "
                f"{stranded.state} rule {stranded.rule_name!r} "
                f"fingerprint={stranded.fingerprint} to {stranded.channel}"
            )
        for destination in found.lines:
            self.stdout.write(f"the line of {destination} {verb} a drain")
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(found.deliveries)} delivery(ies) and {len(found.lines)} line(s) {verb}."
            )
        )
