"""Import the Slack rules of a host's own integration (SentryHub's ``integrations`` app).

Each old rule becomes a ``django_slack_rules.SlackIntegrationRule``: keys written
``labels__<name>`` become ``<name>``, values become strings, and every new rule is
validated as the rule form validates it. All or nothing, in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, router, transaction
from django.urls import NoReverseMatch, reverse

from django_slack_rules.conf import slack_rules_settings
from django_slack_rules.models import SlackIntegrationRule

LABELS_PREFIX = "labels__"
SENTRYHUB_MODEL = "integrations.SlackIntegrationRule"
PRIORITY_KEEP = "keep"
PRIORITY_SPECIFICITY = "specificity"


def convert_criteria(value: Any) -> tuple[dict[str, str], list[str], list[str]]:
    """Old criteria as the package's: ``(criteria, errors, notes)``.

    ``labels__<name>`` keys become ``<name>``, other keys are kept; values become
    strings. A non-object, a nested or null value, or two keys naming one label
    are errors.
    """
    if value is None:
        return {}, [], []
    if not isinstance(value, Mapping):
        kind = type(value).__name__
        return {}, [f"match_criteria is a {kind}, not an object of label → value."], []
    criteria: dict[str, str] = {}
    errors: list[str] = []
    notes: list[str] = []
    for raw_key, raw_value in value.items():
        key = str(raw_key)
        label = key[len(LABELS_PREFIX) :] if key.startswith(LABELS_PREFIX) else key
        if not label:
            errors.append(f"match_criteria key {key!r} names no label.")
            continue
        if raw_value is None or isinstance(raw_value, (dict, list, tuple)):
            shown = json.dumps(raw_value)
            errors.append(
                f"match_criteria[{key!r}] is {shown}; a label's value must be one string."
            )
            continue
        if label in criteria:
            errors.append(f"match_criteria names the label {label!r} twice (as {key!r} too).")
            continue
        if "__" in label:
            notes.append(
                f"key {key!r} looks like a Django lookup; the package compares the label "
                f"{label!r} for equality only."
            )
        criteria[label] = str(raw_value)
    return criteria, errors, notes


def can_both_match(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Whether one alert can match both criteria: no shared label wants two values."""
    return all(b[key] == value for key, value in a.items() if key in b)


def specificity_priority(criteria: Mapping[str, str], priority: int) -> int:
    """More criteria rank higher; the old priority breaks ties."""
    return len(criteria) * 100 + priority


@dataclass
class Plan:
    """What happens to one old rule."""

    source_pk: Any
    name: str
    is_active: bool
    old_priority: int
    criteria: dict[str, str]
    action: str = "create"  # create, update, skip
    rule: SlackIntegrationRule | None = None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def keep_key(self) -> tuple[int, str]:
        return (-self.old_priority, self.name)

    def specificity_key(self) -> tuple[int, str]:
        return (-specificity_priority(self.criteria, self.old_priority), self.name)


def ranking_changes(plans: Iterable[Plan], mode: str) -> list[tuple[Plan, Plan]]:
    """Pairs of active rules that can match one alert and rank differently by priority
    than by specificity: ``(winner now, winner under the other ordering)``."""
    active = sorted((p for p in plans if p.is_active), key=lambda p: p.name)
    changes = []
    for i, a in enumerate(active):
        for b in active[i + 1 :]:
            if not can_both_match(a.criteria, b.criteria):
                continue
            keep_winner = min(a, b, key=Plan.keep_key)
            spec_winner = min(a, b, key=Plan.specificity_key)
            if keep_winner is not spec_winner:
                now, other = (
                    (keep_winner, spec_winner)
                    if mode == PRIORITY_KEEP
                    else (spec_winner, keep_winner)
                )
                changes.append((now, other))
    return changes


class Command(BaseCommand):
    help = (
        "Import the Slack rules of a host's own integration, e.g. SentryHub's "
        f"{SENTRYHUB_MODEL}: labels__<name> keys become <name>, every rule is validated, "
        "and nothing is saved unless all are valid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "model",
            metavar="MODEL",
            help=f'The old rule model as "app_label.ModelName"; SentryHub: {SENTRYHUB_MODEL}.',
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate and show what would be imported; save nothing.",
        )
        parser.add_argument(
            "--priority",
            choices=[PRIORITY_KEEP, PRIORITY_SPECIFICITY],
            default=PRIORITY_KEEP,
            help="keep (default): copy each rule's priority, for a SentryHub that ranks by "
            "priority then name. specificity: priority = number of criteria * 100 + the old "
            "priority, for an older SentryHub that ranks the most specific rule first.",
        )
        parser.add_argument(
            "--update",
            action="store_true",
            help="Overwrite a rule of the same name already in the package (default: skip it). "
            "Its active switch is left as it is.",
        )
        parser.add_argument(
            "--deactivate-source",
            action="store_true",
            help="In the same transaction, deactivate the old rules, so the old integration "
            "stops posting.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
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
        plans = self.plan(olds, mode=mode, update=options["update"])

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
        self.write_ranking_changes(plans, mode)
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

    def plan(self, olds: list[Any], *, mode: str, update: bool) -> list[Plan]:
        names = [str(getattr(old, "name", "") or "") for old in olds]
        existing = {rule.name: rule for rule in SlackIntegrationRule.objects.filter(name__in=names)}
        seen: set[str] = set()
        plans = []
        for old, name in zip(olds, names):
            criteria, errors, notes = convert_criteria(getattr(old, "match_criteria", None))
            plan = Plan(
                source_pk=old.pk,
                name=name,
                is_active=bool(getattr(old, "is_active", True)),
                old_priority=0,
                criteria=criteria,
                errors=errors,
                notes=notes,
            )
            plans.append(plan)
            raw_priority = getattr(old, "priority", 0)
            try:
                plan.old_priority = int(raw_priority or 0)
            except (TypeError, ValueError):
                plan.errors.append(f"priority {raw_priority!r} is not a whole number.")
            if not name:
                plan.name = f"{old._meta.label} #{old.pk}"
                plan.errors.append("the rule has no name; give it one.")
            elif name in seen:
                plan.errors.append("another old rule has the same name; rename one.")
            seen.add(name)

            rule = existing.get(name)
            if rule is not None and not update:
                plan.action, plan.rule = "skip", rule
                continue
            if rule is None:
                rule = SlackIntegrationRule(name=name, is_active=plan.is_active)
            else:
                plan.action = "update"
            plan.rule = rule
            priority = plan.old_priority
            if mode == PRIORITY_SPECIFICITY:
                priority = specificity_priority(criteria, priority)
            values = {
                "priority": priority,
                "match_criteria": criteria,
                "slack_channel": str(getattr(old, "slack_channel", "") or ""),
                "message_template": str(getattr(old, "message_template", "") or ""),
                "resolved_message_template": str(
                    getattr(old, "resolved_message_template", "") or ""
                ),
            }
            if hasattr(old, "description"):
                values["description"] = str(old.description or "")
            for key, value in values.items():
                setattr(rule, key, value)
            # Criteria not copied whole: validating them says nothing; the rest still is.
            exclude = ["match_criteria"] if plan.errors else None
            try:
                rule.full_clean(exclude=exclude)
            except ValidationError as exc:
                plan.errors.extend(
                    f"{field_name}: {message}"
                    for field_name, messages in exc.message_dict.items()
                    for message in messages
                )
        return plans

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

    def write_ranking_changes(self, plans: list[Plan], mode: str) -> None:
        changes = ranking_changes(plans, mode)
        if not changes:
            return
        other = (
            "by specificity (the most criteria first), as older SentryHub versions do"
            if mode == PRIORITY_KEEP
            else "by priority then name, as newer SentryHub versions do"
        )
        self.stdout.write("")
        self.stdout.write(
            self.style.WARNING(
                f"WARNING: {len(changes)} pair(s) of active rules can match the same alert and "
                f"rank differently {other}. Check which ranking your SentryHub used and test "
                f"these labels on the match tester ({match_tester()}); adjust priorities if "
                "the wrong rule wins:"
            )
        )
        for now, before in changes:
            labels = json.dumps({**before.criteria, **now.criteria}, sort_keys=True)
            self.stdout.write(
                self.style.WARNING(
                    f"  {now.name!r} now wins over {before.name!r}, e.g. for labels {labels}"
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


def has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def match_tester() -> str:
    name = "django_slack_rules:rule-match"
    try:
        return f"{reverse(name)}, URL name {name}"
    except NoReverseMatch:
        return f"URL name {name}"
