"""``slack_rules_import MODEL``: a host's own Slack rules (SentryHub's
``integrations.SlackIntegrationRule``) as the package's rules.

The plan (:mod:`django_slack_rules.contrib.sentryhub.rules_import`) converts and validates
each old rule; this module prints it and, with ``--apply``, saves it all or nothing (and
deactivates the old rules with ``--deactivate-source``).
"""

from __future__ import annotations

import json
from contextlib import ExitStack

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.core.management.color import Style
from django.db import models, router, transaction
from django.urls import NoReverseMatch, reverse

from ..conf import slack_rules_settings
from ..contrib.sentryhub.rules_import import (
    PRIORITY_KEEP,
    PRIORITY_SPECIFICITY,
    SENTRYHUB_MODEL,
    Plan,
    has_field,
    plan_import,
    ranking_changes,
)
from ..models import SlackIntegrationRule
from ..typing import OptionValue


def import_model(command: BaseCommand, options: dict[str, OptionValue]) -> None:
    """Print the plan for the rules of ``options["model"]``; with ``--apply``, save it."""
    ModelImport(command).run(options)


class ModelImport:
    """The output of one MODEL import, written to the command's stdout."""

    def __init__(self, command: BaseCommand) -> None:
        self.stdout: OutputWrapper = command.stdout
        self.style: Style = command.style

    def run(self, options: dict[str, OptionValue]) -> None:
        source = self.source_model(options["model"])
        label = source._meta.label
        if options["deactivate_source"] and not has_field(source, "is_active"):
            raise CommandError(
                f"{label} has no is_active field, so --deactivate-source cannot switch its "
                "rules off. Run without it and turn the old integration off in its own way."
            )
        mode = options["priority"]
        dry_run = not options["apply"]

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
            self.stdout.write(
                "Nothing was saved. Run again with --apply to import them, all or nothing."
            )
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
    if not getattr(settings, "ROOT_URLCONF", None):
        return f"URL name {name}"
    try:
        return f"{reverse(name)}, URL name {name}"
    except NoReverseMatch:
        return f"URL name {name}"
