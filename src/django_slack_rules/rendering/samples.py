"""A sample alert a rule matches, and what its Block Kit template renders to for one.

The preview shows a rule's message for a sample alert; the rule's own validation
(``SlackIntegrationRule.clean()``, so the rule form, the admin, the import commands and any
``full_clean()``) renders its Block Kit template for one and refuses what Slack would
refuse, with the same message everywhere. Pure: no database, no settings.
"""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.translation import gettext

from ..matching.compiled import criteria_matchers, example_labels
from ..matching.labels import normalize_labels
from ..matching.matchers import CriteriaError, Matcher
from ..typing import RawLabels, RuleFields, TemplateContext
from .blocks import BlocksError, block_problems, render_blocks
from .context import build_context
from .templates import template_error

#: The statuses a rule renders for (``models.STATUS_FIRING``, ``STATUS_RESOLVED``).
FIRING, RESOLVED = "firing", "resolved"

#: The sample alert's annotations when the page opens.
SAMPLE_ANNOTATIONS = {
    "summary": "CPU above 90% for 5 minutes",
    "description": "Load average is 12.3 on web-1",
}

#: Labels every sample alert has, unless the rule's criteria refuse them.
SAMPLE_LABELS = {"alertname": "HighCPU", "severity": "critical", "instance": "web-1:9100"}


def sample_labels(rule: RuleFields) -> dict[str, str]:
    """Labels of a sample alert that ``rule`` matches, as far as its criteria tell: their
    equalities and the first word of a regex such as ``critical|page``, plus common labels
    the criteria do not refuse."""
    try:
        matchers: tuple[Matcher, ...] = criteria_matchers(rule.match_criteria)
    except CriteriaError:
        matchers = ()
    labels = example_labels(matchers)
    for name, value in SAMPLE_LABELS.items():
        own = [m for m in matchers if m.name == name]
        if name not in labels and all(m.matches({name: value}) for m in own):
            labels[name] = value
    return {**{k: labels[k] for k in SAMPLE_LABELS if k in labels}, **labels}


def sample_context(
    rule: RuleFields,
    labels: RawLabels,
    annotations: RawLabels,
    status: str,
    *,
    now: datetime.datetime | None = None,
) -> TemplateContext:
    """The template context for a sample alert, built like the task builds a real one's."""
    now = now or timezone.now()
    labels = normalize_labels(labels)
    started_at = now - datetime.timedelta(minutes=5)
    ended_at = now if status == RESOLVED else None
    name = labels.get("alertname", "")
    alert_group: dict[str, object] = {
        "id": 0,
        "fingerprint": "preview",
        "name": name,
        "labels": labels,
        "severity": labels.get("severity", ""),
        "source": "preview",
        "instance": labels.get("instance", ""),
        "current_status": status,
        "is_silenced": False,
        "first_occurrence": started_at,
        "last_occurrence": now,
        "total_firing_count": 1,
    }
    return build_context(
        labels=labels,
        annotations=annotations,
        status=status,
        rule=rule,
        name=name,
        fingerprint="preview",
        severity=alert_group["severity"],
        source="preview",
        instance=alert_group["instance"],
        started_at=started_at,
        ended_at=ended_at,
        occurrence_status=status,
        alert_group=alert_group,
    )


def blocks_template_problems(rule: RuleFields) -> list[str]:
    """What Slack would refuse in ``rule.blocks_template`` rendered for a sample alert the
    rule matches, firing and resolved (each problem names its block); [] when it renders
    valid Block Kit, or when it is empty or does not compile (the field's own error)."""
    source = rule.blocks_template or ""
    if not source.strip() or template_error(source):
        return []
    problems: list[str] = []
    for status in (FIRING, RESOLVED):
        context = sample_context(rule, sample_labels(rule), SAMPLE_ANNOTATIONS, status)
        try:
            found = block_problems(render_blocks(source, context))
        except BlocksError as exc:
            found = [str(exc)]
        except Exception as exc:  # the template fails for this sample
            found = [
                gettext("The template fails for a sample alert: %(error)s")
                % {"error": f"{type(exc).__name__}: {exc}"}
            ]
        for problem in found:
            if status == RESOLVED:
                if problem in problems:
                    continue
                problem = gettext("For a resolved alert: %(problem)s") % {"problem": problem}
            problems.append(problem)
    return problems
