"""Moving SentryHub's in-tree Slack rules (its ``integrations`` app) into this package.

Each old rule becomes a ``django_slack_rules.SlackIntegrationRule``: keys written
``labels__<name>`` become ``<name>``, values become strings, and every new rule is
validated as the rule form validates it. ``manage.py slack_rules_import`` prints the
plan and saves it, all or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

from ...models import SlackIntegrationRule
from ...typing import Id

LABELS_PREFIX = "labels__"
SENTRYHUB_MODEL = "integrations.SlackIntegrationRule"
PRIORITY_KEEP = "keep"
PRIORITY_SPECIFICITY = "specificity"


def convert_criteria(value: object) -> tuple[dict[str, str], list[str], list[str]]:
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

    source_pk: Id
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

    def package_key(self) -> tuple[int, str]:
        """The package's ranking: the priority the rule has after the import (a skipped
        rule keeps the one it already has), then name."""
        if self.rule is None:
            return self.keep_key()
        return (-self.rule.priority, self.rule.name)


def ranking_changes(plans: Iterable[Plan]) -> list[tuple[Plan, Plan, str]]:
    """Pairs of active rules that can match one alert and whose winner in the package is
    not SentryHub's winner under one of its rankings: ``(winner in the package, winner in
    SentryHub, that ranking)``, the ranking being ``PRIORITY_SPECIFICITY`` or
    ``PRIORITY_KEEP``."""
    active = sorted((p for p in plans if p.is_active), key=lambda p: p.name)
    rankings = ((PRIORITY_SPECIFICITY, Plan.specificity_key), (PRIORITY_KEEP, Plan.keep_key))
    changes = []
    for i, a in enumerate(active):
        for b in active[i + 1 :]:
            if not can_both_match(a.criteria, b.criteria):
                continue
            now = min(a, b, key=Plan.package_key)
            for ranking, key in rankings:
                before = min(a, b, key=key)
                if before is not now:
                    changes.append((now, before, ranking))
                    break
    return changes


def plan_import(olds: list[models.Model], *, mode: str, update: bool) -> list[Plan]:
    """What happens to each old rule: create, update or skip, with its errors and notes."""
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
        message_template = str(getattr(old, "message_template", "") or "")
        resolved_template = str(getattr(old, "resolved_message_template", "") or "")
        if (
            hasattr(old, "resolved_message_template")
            and not resolved_template.strip()
            and message_template.strip()
        ):
            # SentryHub renders the firing template on resolve when the resolved one is
            # empty; an empty resolved template here would send nothing.
            resolved_template = message_template
            plan.notes.append(
                "its resolved template is empty, so SentryHub sends the firing template on "
                "resolve too: copied as the resolved template (clear it to send nothing on "
                "resolve)."
            )
        values = {
            "priority": priority,
            "match_criteria": criteria,
            "slack_channel": str(getattr(old, "slack_channel", "") or ""),
            "message_template": message_template,
            "resolved_message_template": resolved_template,
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


def has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True
