"""``slack_rules_import --alertmanager``: an Alertmanager configuration's Slack routing as rules.

The plan (:mod:`django_slack_rules.contrib.alertmanager`) is pure; this module prints it,
checks every planned rule as the rule form would and, with ``--apply``, creates them all
in one transaction, or none.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import router, transaction

from ..conf import slack_rules_settings
from ..contrib.alertmanager import (
    AlertmanagerConfigError,
    ImportPlan,
    MissingDependency,
    PlannedRule,
    plan_file,
)
from ..models import SlackIntegrationRule
from ..typing import OptionValue


def import_alertmanager(command: BaseCommand, path: str, options: dict[str, OptionValue]) -> None:
    """Print the plan for ``path`` and its report; with ``options["apply"]``, write it."""
    write = command.stdout.write
    style = command.style
    try:
        plan = plan_file(
            path,
            lowest_priority=options["lowest_priority"],
            priority_step=options["priority_step"],
            name_prefix=options["name_prefix"],
        )
    except (AlertmanagerConfigError, MissingDependency) as exc:
        raise CommandError(str(exc)) from exc

    write(plan.format(default_channel=slack_rules_settings.DEFAULT_CHANNEL))
    if not plan.rules:
        write("")
        write(f"No route of {path} sends to Slack (no receiver with slack_configs): nothing to do.")
        return
    problems = check_rules(plan)
    if problems:
        raise CommandError(
            "\n".join(
                [
                    f"{len(problems)} planned rule(s) cannot be created, so nothing was saved:",
                    *problems,
                ]
            )
        )
    write("")
    for line in placement_notes(plan):
        write(style.WARNING(line))
    if not options["apply"]:
        write(style.SUCCESS(f"Dry run: {len(plan.rules)} rule(s) would be created from {path}."))
        write("Nothing was saved. Run again with --apply to create them, all or nothing.")
        return
    alias = router.db_for_write(SlackIntegrationRule)
    with transaction.atomic(using=alias):
        for planned in plan.rules:
            SlackIntegrationRule(**planned.model_fields()).save(using=alias)
    write(style.SUCCESS(f"Created {len(plan.rules)} rule(s) from {path}."))
    if not plan.exact:
        write(
            style.WARNING(
                "They do not route every label set as Alertmanager does (see Inexact above): "
                "check those routes on the match tester."
            )
        )


def check_rules(plan: ImportPlan) -> list[str]:
    """Why planned rules cannot be saved: taken names, and what the rule form would refuse."""
    names = [planned.name for planned in plan.rules]
    taken = set(SlackIntegrationRule.objects.filter(name__in=names).values_list("name", flat=True))
    problems = [
        f"  {name!r}: a rule of that name is already in the package. Delete the rules of an "
        "earlier import first, or import under another --name-prefix."
        for name in names
        if name in taken
    ]
    for planned in plan.rules:
        problems += [f"  {planned.name!r}: {error}" for error in rule_errors(planned)]
    return problems


def rule_errors(planned: PlannedRule) -> list[str]:
    rule = SlackIntegrationRule(**planned.model_fields())
    try:
        rule.full_clean(validate_unique=False)
    except ValidationError as exc:
        return [
            f"{field}: {' '.join(messages)}" for field, messages in sorted(exc.message_dict.items())
        ]
    return []


def placement_notes(plan: ImportPlan) -> list[str]:
    """How the imported rules meet the active rules already in the package."""
    lowest = min(planned.priority for planned in plan.rules)
    active = SlackIntegrationRule.objects.active()
    above = list(active.filter(priority__gte=lowest).order_by("-priority", "name")[:6])
    below = active.filter(priority__lt=lowest).count()
    notes = []
    if above:
        shown = ", ".join(f"{rule.name!r} ({rule.priority})" for rule in above[:5])
        more = " …" if len(above) > 5 else ""
        notes.append(
            f"WARNING: active rules already in the package rank among or above the imported "
            f"ones (lowest imported priority {lowest}): {shown}{more}. They can take an alert "
            "before the imported rules, which then no longer route as Alertmanager did. Place "
            "the import above them with --lowest-priority, or change them; then check labels "
            "on the match tester."
        )
    if below:
        notes.append(
            f"{below} active rule(s) already in the package rank below the imported ones: they "
            "get only the alerts no imported rule takes (or that an imported rule passes on "
            "with continue matching)."
        )
    return notes
