"""What planning returns: :class:`ImportPlan` (the rules best first, and the report),
:class:`PlannedRule`, :class:`ReportLine` with its levels, and the plan as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ...matching.matchers import Matcher, format_matchers, select_rules

# Report levels.
INEXACT = "inexact"  # the rules may pick other receivers than Alertmanager
NOT_IMPORTED = "not imported"  # something Alertmanager does that the rules will not
NOTE = "note"  # how something was translated


@dataclass(frozen=True)
class ReportLine:
    """One thing the operator should know: ``level`` (:data:`INEXACT`,
    :data:`NOT_IMPORTED`, :data:`NOTE`), where (``route.routes[0]``, a receiver, or
    ``""`` for the whole configuration) and what."""

    level: str
    where: str
    message: str

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{self.level}: {where}{self.message}"


@dataclass(frozen=True)
class PlannedRule:
    """A rule to create, with the model's field names; ``matchers`` are the parsed
    ``match_criteria``. ``route`` and ``receiver`` say where it came from."""

    name: str
    priority: int
    matchers: tuple[Matcher, ...]
    continue_matching: bool
    slack_channel: str
    message_template: str
    resolved_message_template: str
    description: str
    route: str
    receiver: str
    is_active: bool = True

    @property
    def match_criteria(self) -> list[str]:
        return format_matchers(self.matchers)

    def model_fields(self) -> dict[str, object]:
        """Keyword arguments for ``SlackIntegrationRule(**fields)``."""
        return {
            "name": self.name,
            "description": self.description,
            "is_active": self.is_active,
            "priority": self.priority,
            "match_criteria": self.match_criteria,
            "continue_matching": self.continue_matching,
            "slack_channel": self.slack_channel,
            "message_template": self.message_template,
            "resolved_message_template": self.resolved_message_template,
        }


@dataclass
class ImportPlan:
    """The rules an Alertmanager configuration becomes, best first, and the report."""

    rules: list[PlannedRule] = field(default_factory=list)
    report: list[ReportLine] = field(default_factory=list)
    source: str = ""

    @property
    def exact(self) -> bool:
        """Whether the rules pick the Slack receivers Alertmanager picks, for any labels."""
        return not any(line.level == INEXACT for line in self.report)

    def routes_reported(self, level: str | None = None) -> set[str]:
        return {line.where for line in self.report if level is None or line.level == level}

    def select(self, labels: Mapping[str, str]) -> list[PlannedRule]:
        """The planned rules that would get an alert with ``labels``, best first."""
        return select_rules(self.rules, labels)

    def receivers_for(self, labels: Mapping[str, str]) -> list[str]:
        """The Slack receivers the rules send ``labels`` to, in order, one per route (as
        ``amtool config routes test`` prints them, less the other receivers)."""
        receivers: list[str] = []
        last_route = None
        for rule in self.select(labels):
            if rule.route != last_route:
                receivers.append(rule.receiver)
                last_route = rule.route
        return receivers

    def format(self, *, default_channel: str = "") -> str:
        """The plan as text for a terminal: the rules best first, then the report."""
        rows = [("priority", "name", "channel", "continue", "match_criteria")]
        for rule in self.rules:
            channel = rule.slack_channel or (
                f"(label 'channel', else {default_channel})"
                if default_channel
                else "(label 'channel', else DEFAULT_CHANNEL)"
            )
            rows.append(
                (
                    str(rule.priority),
                    rule.name,
                    channel,
                    "yes" if rule.continue_matching else "no",
                    ", ".join(rule.match_criteria) or "(every alert)",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [f"{len(self.rules)} rule(s) from {self.source or 'the configuration'}:"]
        lines += [
            "  " + "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4]
            for row in rows
        ]
        for level in (INEXACT, NOT_IMPORTED, NOTE):
            found = [line for line in self.report if line.level == level]
            if found:
                lines += ["", f"{level.capitalize()} ({len(found)}):"]
                lines += [f"  {line.where or '(configuration)'}: {line.message}" for line in found]
        if self.exact:
            lines += [
                "",
                "The rules route every label set to the Slack receivers Alertmanager does.",
            ]
        else:
            lines += [
                "",
                "The rules do NOT route every label set as Alertmanager does: see Inexact.",
            ]
        return "\n".join(lines)


def _merge_notes(report: list[ReportLine]) -> list[ReportLine]:
    """One line for a note several receivers share (e.g. the default title)."""
    prefix = "receiver "
    groups: dict[tuple[str, str], list[str]] = {}
    for line in report:
        if line.where.startswith(prefix):
            groups.setdefault((line.level, line.message), []).append(line.where)
    merged: list[ReportLine] = []
    done: set[tuple[str, str]] = set()
    for line in report:
        key = (line.level, line.message)
        if not line.where.startswith(prefix):
            merged.append(line)
        elif key not in done:
            done.add(key)
            unique = list(dict.fromkeys(groups[key]))
            where = unique[0]
            if len(unique) > 1:
                where = "receivers " + ", ".join(w[len(prefix) :] for w in unique)
            merged.append(ReportLine(line.level, where, line.message))
    return merged
