"""Import rules from elsewhere, all or nothing, in one transaction:

- ``slack_rules_import MODEL``: the Slack rules of a host's own integration (SentryHub's
  ``integrations.SlackIntegrationRule``), printed and saved by
  :mod:`django_slack_rules.management.sentryhub_import`;
- ``slack_rules_import --alertmanager alertmanager.yml``: an Alertmanager configuration's
  Slack routes (:mod:`django_slack_rules.management.alertmanager_import`).

Both are a dry run (the plan printed, nothing saved) unless ``--apply``. This module only
reads the command line: one source, and the options that go with it.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_slack_rules.contrib.sentryhub.rules_import import (
    PRIORITY_KEEP,
    PRIORITY_SPECIFICITY,
    SENTRYHUB_MODEL,
)
from django_slack_rules.management.alertmanager_import import import_alertmanager
from django_slack_rules.management.sentryhub_import import import_model
from django_slack_rules.typing import OptionValue

#: The options of one source only, with their defaults (not given: the default).
SENTRYHUB_ONLY: dict[str, object] = {
    "--priority": PRIORITY_SPECIFICITY,
    "--update": False,
    "--deactivate-source": False,
}
ALERTMANAGER_ONLY: dict[str, object] = {
    "--lowest-priority": 10,
    "--priority-step": 10,
    "--name-prefix": "",
}


def dest(flag: str) -> str:
    return flag[2:].replace("-", "_")


class Command(BaseCommand):
    help = (
        "Import rules, all or nothing. Either MODEL: the Slack rules of a host's own "
        f"integration, e.g. SentryHub's {SENTRYHUB_MODEL} (labels__<name> keys become "
        "<name>). Or --alertmanager FILE: the Slack routes of an alertmanager.yml, flattened "
        "into rules. A dry run that prints the plan and saves nothing, unless --apply."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "model",
            metavar="MODEL",
            nargs="?",
            help=f'The old rule model as "app_label.ModelName"; SentryHub: {SENTRYHUB_MODEL}. '
            "Not with --alertmanager.",
        )
        parser.add_argument(
            "--alertmanager",
            metavar="FILE",
            help="Import the Slack routes of this Alertmanager configuration (alertmanager.yml) "
            'instead of MODEL. Needs PyYAML: pip install "django-slack-rules[alertmanager]".',
        )
        sentryhub = parser.add_argument_group("with MODEL")
        alertmanager = parser.add_argument_group("with --alertmanager")
        alertmanager.add_argument(
            "--lowest-priority",
            type=int,
            default=ALERTMANAGER_ONLY["--lowest-priority"],
            help="The priority of the last imported rule (default: 10); place the import above "
            "or below the rules already in the package.",
        )
        alertmanager.add_argument(
            "--priority-step",
            type=int,
            default=ALERTMANAGER_ONLY["--priority-step"],
            help="The priority between two imported rules (default: 10).",
        )
        alertmanager.add_argument(
            "--name-prefix",
            default=ALERTMANAGER_ONLY["--name-prefix"],
            help="Put this before every imported rule's name, e.g. 'am: '.",
        )
        parser.add_argument(
            "--apply",
            action="store_true",
            help="Save the planned rules, all or nothing (default: print the plan and save "
            "nothing).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate and show what would be imported; save nothing. The default: say it "
            "to be explicit.",
        )
        sentryhub.add_argument(
            "--priority",
            choices=[PRIORITY_KEEP, PRIORITY_SPECIFICITY],
            default=SENTRYHUB_ONLY["--priority"],
            help="specificity (default): priority = number of criteria * 100 + the old "
            "priority, as SentryHub ranks the most specific rule first (its "
            "integrations/services/slack_matcher.py does, since August 2025). keep: copy each "
            "rule's priority, for a SentryHub that ranks by priority then name (its first "
            "Slack rules did).",
        )
        sentryhub.add_argument(
            "--update",
            action="store_true",
            help="Overwrite a rule of the same name already in the package (default: skip it). "
            "Its active switch is left as it is.",
        )
        sentryhub.add_argument(
            "--deactivate-source",
            action="store_true",
            help="In the same transaction, deactivate the old rules, so the old integration "
            "stops posting.",
        )

    def handle(self, *args: object, **options: OptionValue) -> None:
        self.check_source(options)
        if options["alertmanager"]:
            import_alertmanager(self, options["alertmanager"], options)
            return
        import_model(self, options)

    def check_source(self, options: dict[str, OptionValue]) -> None:
        """Exactly one source, and only the options that go with it."""
        model, config = options["model"], options["alertmanager"]
        if model and config:
            raise CommandError(
                f"Give MODEL ({model}) or --alertmanager ({config}), not both: run the command "
                "once for each source."
            )
        if not model and not config:
            raise CommandError(
                "Nothing to import: give MODEL, the old rule model (for SentryHub: "
                f"{SENTRYHUB_MODEL}), or --alertmanager alertmanager.yml."
            )
        others = SENTRYHUB_ONLY if config else ALERTMANAGER_ONLY
        given = [flag for flag, default in others.items() if options[dest(flag)] != default]
        if given:
            source = "--alertmanager" if config else "MODEL"
            goes_with = "MODEL" if config else "--alertmanager"
            raise CommandError(f"{', '.join(given)} goes with {goes_with}, not with {source}.")
        if options["dry_run"] and options["apply"]:
            raise CommandError("--dry-run and --apply contradict each other: give one of them.")
