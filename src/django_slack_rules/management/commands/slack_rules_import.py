"""Import rules from elsewhere, all or nothing, in one transaction:

- ``slack_rules_import MODEL``: the Slack rules of a host's own integration (SentryHub's
  ``integrations.SlackIntegrationRule``), planned by
  :mod:`django_slack_rules.contrib.sentryhub.rules_import`;
- ``slack_rules_import --alertmanager alertmanager.yml``: an Alertmanager configuration's
  Slack routes (:mod:`django_slack_rules.management.alertmanager_import`), a dry run unless
  ``--apply``.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, router, transaction
from django.urls import NoReverseMatch, reverse

from django_slack_rules.conf import slack_rules_settings
from django_slack_rules.contrib.sentryhub.rules_import import (
    PRIORITY_KEEP,
    PRIORITY_SPECIFICITY,
    SENTRYHUB_MODEL,
    Plan,
    has_field,
    plan_import,
    ranking_changes,
)
from django_slack_rules.management.alertmanager_import import import_alertmanager
from django_slack_rules.models import SlackIntegrationRule

#: The options of one source only, with their defaults (not given: the default).
SENTRYHUB_ONLY: dict[str, Any] = {
    "--priority": PRIORITY_SPECIFICITY,
    "--update": False,
    "--deactivate-source": False,
}
ALERTMANAGER_ONLY: dict[str, Any] = {
    "--apply": False,
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
        "into rules (a dry run that prints the plan and its report, unless --apply)."
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
            "--apply",
            action="store_true",
            help="Create the planned rules (default: print the plan and save nothing).",
        )
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
            "--dry-run",
            action="store_true",
            help="Validate and show what would be imported; save nothing (with --alertmanager, "
            "what it does without --apply).",
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

    def handle(self, *args: Any, **options: Any) -> None:
        self.check_source(options)
        if options["alertmanager"]:
            import_alertmanager(self, options["alertmanager"], options)
            return
        self.import_model(options)

    def check_source(self, options: dict[str, Any]) -> None:
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
            hint = " (MODEL imports unless --dry-run)" if "--apply" in given else ""
            raise CommandError(
                f"{', '.join(given)} goes with {goes_with}, not with {source}{hint}."
            )
        if options["dry_run"] and options["apply"]:
            raise CommandError("--dry-run and --apply contradict each other: give one of them.")

    def import_model(self, options: dict[str, Any]) -> None:
        source = self.source_model(options["model"])
        label = source._meta.label
        if options["deactivate_source"] and not has_field(source, "is_active"):
            raise CommandError(
                f"{label} has no is_active field, so --deactivate-source cannot switch its "
                "rules off. Run without it and turn the old integration off in its own way."
            )
        mode = options["priority"]
        dry_run = options["dry_run"]

        olds = list(source._default_manager.order_by("pk"))
        if not olds:
            self.stdout.write(f"No rules in {label}: nothing to import.")
            return
        plans = plan_import(olds, mode=mode, update=options["update"])

        for plan in plans:
            self.report(plan)
        failed = [plan for plan in plans if plan.errors]
        if failed:
            lines = [
                f"{len(failed)} of {len(plans)} rule(s) of {label} cannot be imported, so "
                "nothing was saved. Fix them in the old rules and run the command again:"
            ]
            for plan in failed:
                lines.extend(f"  {plan.name!r}: {error}" for error in plan.errors)
            raise CommandError("\n".join(lines))

        deactivated = 0
        if not dry_run:
            with ExitStack() as stack:
                for alias in sorted(
                    {router.db_for_write(SlackIntegrationRule), router.db_for_write(source)}
                ):
                    stack.enter_context(transaction.atomic(using=alias))
                for plan in plans:
                    if plan.action != "skip" and plan.rule is not None:
                        plan.rule.save()
                if options["deactivate_source"]:
                    deactivated = source._default_manager.filter(
                        pk__in=[plan.source_pk for plan in plans], is_active=True
                    ).update(is_active=False)

        self.write_table(plans)
        self.write_ranking_changes(plans)
        self.write_summary(plans, label, dry_run=dry_run)
        self.write_source_state(plans, label, options["deactivate_source"], dry_run, deactivated)

    # Reading the old rules

    def source_model(self, name: str) -> type[models.Model]:
        try:
            model = apps.get_model(name)
        except (LookupError, ValueError) as exc:
            raise CommandError(
                f"MODEL {name!r} is not an installed model ({exc}). Pass the old rule model as "
                f'"app_label.ModelName": for SentryHub, {SENTRYHUB_MODEL} (its integrations '
                "app must still be in INSTALLED_APPS)."
            ) from exc
        if model is SlackIntegrationRule:
            raise CommandError(
                f"MODEL {name!r} is this package's own rule model; pass the old one, e.g. "
                f"{SENTRYHUB_MODEL}."
            )
        return model

    # Output

    def report(self, plan: Plan) -> None:
        if plan.errors:
            self.stdout.write(self.style.ERROR(f"error  {plan.name!r}"))
            for error in plan.errors:
                self.stdout.write(f"         {error}")
        elif plan.action == "skip":
            self.stdout.write(
                f"skip   {plan.name!r}: a rule of that name is already in the package "
                "(--update overwrites it)"
            )
        else:
            self.stdout.write(f"{plan.action:<6} {plan.name!r}")
        for note in plan.notes:
            self.stdout.write(self.style.WARNING(f"         note: {note}"))

    def write_table(self, plans: list[Plan]) -> None:
        default = slack_rules_settings.DEFAULT_CHANNEL
        rows = [("#", "priority", "name", "active", "channel", "criteria", "import")]
        ranked = sorted(
            (plan for plan in plans if plan.rule is not None),
            key=lambda plan: (-plan.rule.priority, plan.rule.name),  # type: ignore[union-attr]
        )
        for rank, plan in enumerate(ranked, start=1):
            rule = plan.rule
            assert rule is not None
            rows.append(
                (
                    str(rank),
                    str(rule.priority),
                    rule.name,
                    "yes" if rule.is_active else "no",
                    rule.slack_channel or f"(label 'channel', else {default})",
                    json.dumps(rule.match_criteria, sort_keys=True, ensure_ascii=False),
                    plan.action,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        self.stdout.write("")
        self.stdout.write("The rules in the order the package ranks them (priority, then name):")
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))

    def write_ranking_changes(self, plans: list[Plan]) -> None:
        changes = ranking_changes(plans)
        if not changes:
            return
        rankings = {
            PRIORITY_SPECIFICITY: "by specificity (the most criteria first)",
            PRIORITY_KEEP: "by priority then name",
        }
        self.stdout.write("")
        self.stdout.write(
            self.style.WARNING(
                f"WARNING: {len(changes)} pair(s) of active rules can match the same alert and "
                "rank differently in the package than under one of SentryHub's rankings: by "
                "specificity (the most criteria first, then priority), as its "
                "integrations/services/slack_matcher.py does today, or by priority then name, "
                "as its first Slack rules did. Check which ranking your SentryHub uses and test "
                f"these labels on the match tester ({match_tester()}); adjust priorities if "
                "the wrong rule wins:"
            )
        )
        for now, before, ranking in changes:
            labels = json.dumps({**before.criteria, **now.criteria}, sort_keys=True)
            self.stdout.write(
                self.style.WARNING(
                    f"  {now.name!r} now wins over {before.name!r}, e.g. for labels {labels} "
                    f"({before.name!r} wins {rankings[ranking]})"
                )
            )

    def write_summary(self, plans: list[Plan], label: str, *, dry_run: bool) -> None:
        counts = {
            action: sum(plan.action == action for plan in plans)
            for action in ("create", "update", "skip")
        }
        verbs = ("would be created", "would be updated") if dry_run else ("created", "updated")
        summary = (
            f"{counts['create']} rule(s) {verbs[0]}, {counts['update']} {verbs[1]}, "
            f"{counts['skip']} skipped (already in the package), from {label}."
        )
        self.stdout.write("")
        if dry_run:
            self.stdout.write(self.style.SUCCESS(f"Dry run: every rule is valid. {summary}"))
            self.stdout.write("Nothing was saved.")
        else:
            self.stdout.write(self.style.SUCCESS(summary))

    def write_source_state(
        self, plans: list[Plan], label: str, deactivate: bool, dry_run: bool, deactivated: int
    ) -> None:
        active = sum(plan.is_active for plan in plans)
        if deactivate:
            if dry_run:
                self.stdout.write(
                    f"Would deactivate {active} active rule(s) of {label}, so the old "
                    "integration stops posting."
                )
            else:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"Deactivated {deactivated} rule(s) of {label}: the old integration "
                        "no longer posts for them."
                    )
                )
            return
        if active:
            self.stdout.write(
                self.style.WARNING(
                    f"{active} rule(s) of {label} are still active: while the package's signal "
                    "(SLACK_RULES['SIGNAL']) is connected too, an alert that matches rules in "
                    "both is posted twice. Deactivate them in the same release (run again with "
                    "--deactivate-source)."
                )
            )


def match_tester() -> str:
    name = "django_slack_rules:rule-match"
    try:
        return f"{reverse(name)}, URL name {name}"
    except NoReverseMatch:
        return f"URL name {name}"
