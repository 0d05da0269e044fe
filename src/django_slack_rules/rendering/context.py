"""The template context of one alert: the contract's keys (docs/templates.md), as plain,
Slack-escaped data. Pure: built by the adapter for a real alert, and for a sample alert by
the preview and the rule's own validation (``samples``)."""

from __future__ import annotations

from collections.abc import Mapping

from ..matching.labels import normalize_labels
from ..typing import RawLabels, RuleFields, TemplateContext
from .templates import to_plain_data


def _text(value: object) -> str:
    return "" if value is None else str(value)


def build_context(
    *,
    labels: RawLabels | None,
    annotations: RawLabels | None,
    status: str,
    rule: RuleFields,
    name: object = "",
    fingerprint: object = "",
    severity: object = "",
    source: object = "",
    instance: object = "",
    started_at: object = None,
    ended_at: object = None,
    occurrence_status: object = "",
    is_silenced: bool = False,
    alert_group: Mapping[str, object] | None = None,
) -> TemplateContext:
    """The template context for one alert: plain data, every string from the alert escaped.

    Pure (no database): the task builds it from the host's alert through the adapter,
    the rule preview and the rule's validation from a sample alert. ``rule`` is the rule
    (read: ``name``, ``slack_channel``, ``priority``).
    """
    labels = normalize_labels(labels)
    annotations = dict(annotations or {})
    latest = {
        "annotations": annotations,
        "started_at": started_at,
        "ended_at": ended_at,
        "status": _text(occurrence_status),
    }
    context: dict[str, object] = {
        "labels": labels,
        "annotations": annotations,
        "status": status,
        "alertname": labels.get("alertname", "") or _text(name),
        "summary": _text(annotations.get("summary", "")),
        "description": _text(annotations.get("description", "")),
        "fingerprint": _text(fingerprint),
        "severity": _text(severity or labels.get("severity", "")),
        "source": _text(source),
        "instance": _text(instance or labels.get("instance", "")),
        "started_at": started_at,
        "ended_at": ended_at,
        "is_silenced": bool(is_silenced),
        "alert_group": dict(alert_group or {}),
        "latest_instance": latest,
    }
    plain: TemplateContext = dict(to_plain_data(context))
    # The rule is the operator's own data, not the alert's: kept unescaped.
    plain["rule"] = {
        "name": rule.name,
        "channel": rule.slack_channel,
        "priority": rule.priority,
    }
    return plain
