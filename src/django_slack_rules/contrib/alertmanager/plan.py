"""An Alertmanager configuration's Slack routing as rules: the import plan.

Alertmanager routes an alert down a tree: from the root, into the first child route
whose matchers match (children inherit their parents' conditions), and on to the next
sibling only when the matched route has ``continue: true``; a route with children
handles an alert itself only when none of its children matched. The package ranks flat
rules instead: the best matching rule gets the alert, and while the rule just taken has
``continue_matching`` the next matching one gets it too.

The plan walks the tree depth first, children before their parent (Alertmanager's own
order), and gives each route whose receiver has ``slack_configs`` one rule per Slack
config, with

- criteria: the route's matchers and all its ancestors' (``match``, ``match_re`` and
  ``matchers``), in the list form;
- priorities falling in that order, so a parent's rule comes after its children's;
- ``continue_matching`` when ``continue: true`` is set on the route or an ancestor
  (after such a route Alertmanager goes on looking);
- negated matchers where ranking alone would let a rule take alerts Alertmanager never
  gives its route: the alerts of an earlier sibling that stops the search, or of a child
  that takes them from a parent, when that route is not Slack (it gets no rule, so it
  cannot stop the search) or when a ``continue`` lets the search go past it. A route with
  one matcher is negated by one matcher (``team="db"`` → ``team!="db"``); a route with
  several splits the rule into disjoint variants (``not (a and b)`` = ``not a``, or
  ``a and not b``), up to :data:`MAX_VARIANTS`; beyond that the plan stays inexact and
  its report says so.

With those, the rules pick the same Slack receivers, in the same order, as Alertmanager
does for any label set (``tests/test_alertmanager_import.py`` compares them with
``amtool config routes test``). What rules cannot do — grouping, timing, mute and active
time intervals, inhibition, Go templates beyond simple fields — is listed in the
report, route by route.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...matchers import (
    EQUAL,
    NOT_EQUAL,
    CriteriaError,
    Matcher,
    format_matchers,
    parse_matchers,
    select_rules,
)
from .templates import DEFAULT_GO_TITLE, DEFAULT_MESSAGE, UnsupportedTemplate, convert

#: The most variants one route's rule is split into to stay exact.
MAX_VARIANTS = 8
#: Rule names are at most this long (the model's ``name`` field).
NAME_LENGTH = 255
PIP_COMMAND = 'pip install "django-slack-rules[alertmanager]"'

# Report levels.
INEXACT = "inexact"  # the rules may pick other receivers than Alertmanager
NOT_IMPORTED = "not imported"  # something Alertmanager does that the rules will not
NOTE = "note"  # how something was translated

# validators.CHANNEL_NAME_RE / CHANNEL_ID_RE (this module imports nothing of Django).
_CHANNEL_NAME = re.compile(r"^#[a-z0-9][a-z0-9._\-]{0,79}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{8,}$")
_LEGACY_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_GO_BOOL = {
    **dict.fromkeys(
        ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True
    ),
    **dict.fromkeys(
        ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False
    ),
}
_ROUTE_KEYS = frozenset(
    {
        "receiver",
        "group_by",
        "continue",
        "match",
        "match_re",
        "matchers",
        "group_wait",
        "group_interval",
        "repeat_interval",
        "mute_time_intervals",
        "active_time_intervals",
        "routes",
    }
)
_TIMING_KEYS = ("group_by", "group_wait", "group_interval", "repeat_interval")
_SLACK_KEYS_CONVERTED = frozenset(
    {"channel", "send_resolved", "title", "text", "api_url", "api_url_file", "http_config"}
)


class AlertmanagerConfigError(ValueError):
    """The configuration cannot be read, or is not one Alertmanager would load.
    The message names the place (``route.routes[1].matchers[0]``) and the fix."""


class MissingDependency(ImportError):
    """PyYAML is not installed."""


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

    def model_fields(self) -> dict[str, Any]:
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


# ------------------------------------------------------------------------- reading


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise MissingDependency(
            f"Reading an Alertmanager configuration needs PyYAML: {PIP_COMMAND}"
        ) from exc
    return yaml


def load_config(text: str, *, source: str = "the configuration") -> dict[str, Any]:
    """Parse Alertmanager's YAML. Every scalar stays a string (as Go reads them into
    string fields: ``match: {code: 500}`` is ``"500"``, not a number)."""
    yaml = _yaml()

    # Only the merge key (<<) is resolved implicitly: no ints, floats, booleans or nulls.
    StringLoader: Any = type("StringLoader", (yaml.SafeLoader,), {})
    StringLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith(":merge")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    try:
        data = yaml.load(text, Loader=StringLoader)
    except yaml.YAMLError as exc:
        raise AlertmanagerConfigError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise AlertmanagerConfigError(
            f"{source} is not an Alertmanager configuration: expected a mapping with "
            "'route' and 'receivers' at the top"
        )
    return data


def plan_file(path: str | Path, **options: Any) -> ImportPlan:
    """:func:`plan_import` for a configuration file (e.g. ``alertmanager.yml``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AlertmanagerConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return plan_import(load_config(text, source=str(path)), source=str(path), **options)


# --------------------------------------------------------------------------- routes


@dataclass(eq=False)
class _Route:
    path: str
    receiver: str
    own: tuple[Matcher, ...]
    cont: bool
    raw: Mapping[str, Any]
    parent: _Route | None = None
    children: list[_Route] = field(default_factory=list)

    def ancestors(self) -> list[_Route]:
        """From the root down to the parent."""
        chain = []
        node = self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain[::-1]

    def subtree(self) -> Iterable[_Route]:
        yield self
        for child in self.children:
            yield from child.subtree()

    def post_order(self) -> Iterable[_Route]:
        for child in self.children:
            yield from child.post_order()
        yield self

    @property
    def continues_after(self) -> bool:
        """Whether Alertmanager may look further after giving an alert to this route."""
        return self.cont or any(node.cont for node in self.ancestors())

    def earlier_siblings(self) -> list[_Route]:
        if self.parent is None:
            return []
        siblings = self.parent.children
        return siblings[: siblings.index(self)]


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None or value == "":
        return {}
    if not isinstance(value, Mapping):
        raise AlertmanagerConfigError(f"{where} must be a mapping")
    return value


def _sequence(value: Any, where: str) -> Sequence[Any]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise AlertmanagerConfigError(f"{where} must be a list")
    return value


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AlertmanagerConfigError(f"{where} must be a string")
    return value


def _bool(value: Any, where: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _GO_BOOL:
        return _GO_BOOL[value]
    raise AlertmanagerConfigError(f"{where} must be true or false, not {value!r}")


def _route_matchers(raw: Mapping[str, Any], path: str) -> tuple[Matcher, ...]:
    """``match``, ``match_re`` and ``matchers`` of one route, as Alertmanager reads them."""
    found: list[Matcher] = []
    for kind, op in (("match", EQUAL), ("match_re", "=~")):
        for name, value in sorted(_mapping(raw.get(kind), f"{path}.{kind}").items()):
            where = f"{path}.{kind}.{name}"
            if not _LEGACY_LABEL_NAME.fullmatch(str(name)):
                raise AlertmanagerConfigError(
                    f"{where}: {name!r} is not a label name (letters, digits and _, not "
                    "starting with a digit); use matchers: to match other names"
                )
            try:
                found.append(Matcher(str(name), op, _string(value, where)))
            except CriteriaError as exc:
                detail = getattr(exc, "detail", str(exc))
                raise AlertmanagerConfigError(f"{where}: {detail}") from None
    for i, text in enumerate(_sequence(raw.get("matchers"), f"{path}.matchers")):
        where = f"{path}.matchers[{i}]"
        try:
            found.extend(parse_matchers(_string(text, where)))
        except CriteriaError as exc:
            raise AlertmanagerConfigError(f"{where}: {exc}") from None
    return tuple(found)


def _build_tree(config: Mapping[str, Any], receivers: Mapping[str, Any]) -> _Route:
    raw_root = config.get("route")
    if not isinstance(raw_root, Mapping):
        raise AlertmanagerConfigError(
            "the configuration has no 'route': Alertmanager needs a root route with a receiver"
        )

    def build(raw: Mapping[str, Any], path: str, parent: _Route | None) -> _Route:
        receiver = _string(raw.get("receiver"), f"{path}.receiver")
        if not receiver:
            if parent is None:
                raise AlertmanagerConfigError("route: the root route must name a receiver")
            receiver = parent.receiver
        elif receiver not in receivers:
            raise AlertmanagerConfigError(
                f"{path}.receiver: no receiver named {receiver!r} in receivers"
            )
        own = _route_matchers(raw, path)
        cont = _bool(raw.get("continue"), f"{path}.continue")
        if parent is None and own:
            raise AlertmanagerConfigError(
                "route: the root route must not have matchers (Alertmanager refuses them); "
                "move them to a child route"
            )
        if parent is None and cont:
            raise AlertmanagerConfigError("route: the root route cannot have continue: true")
        node = _Route(path, receiver, own, cont, raw, parent)
        for i, child in enumerate(_sequence(raw.get("routes"), f"{path}.routes")):
            child_path = f"{path}.routes[{i}]"
            if not isinstance(child, Mapping):
                raise AlertmanagerConfigError(f"{child_path} must be a mapping")
            node.children.append(build(child, child_path, node))
        return node

    return build(raw_root, "route", None)


def _receivers(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for i, raw in enumerate(_sequence(config.get("receivers"), "receivers")):
        if not isinstance(raw, Mapping):
            raise AlertmanagerConfigError(f"receivers[{i}] must be a mapping")
        name = _string(raw.get("name"), f"receivers[{i}].name")
        if not name:
            raise AlertmanagerConfigError(f"receivers[{i}] has no name")
        if name in found:
            raise AlertmanagerConfigError(
                f"receivers[{i}]: the receiver name {name!r} is used twice"
            )
        found[name] = raw
    return found


# ---------------------------------------------------------------------------- logic


def _why_blocking(route: _Route, is_slack: Any) -> str:
    if not all(is_slack(node) for node in route.subtree()):
        return "not Slack" if not is_slack(route) else "has routes that are not Slack"
    return "continue"


def _contradicts(matchers: Sequence[Matcher]) -> bool:
    """Whether no label set can match all of ``matchers`` (the obvious cases)."""
    equal: dict[str, str] = {}
    for m in matchers:
        if m.op == EQUAL and equal.setdefault(m.name, m.value) != m.value:
            return True
    for m in matchers:
        if m.op == NOT_EQUAL and equal.get(m.name) == m.value:
            return True
        if m.op in ("=~", "!~") and m.name in equal and not m.matches({m.name: equal[m.name]}):
            return True
    return any(m.negated() in matchers for m in matchers if not m.require_present)


def _implied(m: Matcher, others: Iterable[Matcher]) -> bool:
    """Whether another matcher on the same label already implies ``m``."""
    for o in others:
        if o is m or o.name != m.name:
            continue
        fixed = o.op == EQUAL and (o.value != "" or not o.require_present)
        if fixed and m.op != EQUAL and m.matches({m.name: o.value}):
            return True
        if m.op == NOT_EQUAL and o.op in ("=~", "!~") and not o.matches({m.name: m.value}):
            return True
    return False


def _simplify(variant: Sequence[Matcher], keep: Sequence[Matcher]) -> tuple[Matcher, ...]:
    """``variant`` without the added matchers that others imply (``keep`` stays as is)."""
    out = list(variant)
    for m in list(out):
        if m not in keep and _implied(m, out):
            out.remove(m)
    return tuple(out)


def _add(base: Sequence[Matcher], extra: Iterable[Matcher]) -> tuple[Matcher, ...]:
    out = list(base)
    for m in extra:
        if m not in out:
            out.append(m)
    return tuple(out)


def _negation(own: Sequence[Matcher]) -> list[tuple[Matcher, ...]]:
    """``not (m1 and m2 and …)`` as disjoint alternatives: ``not m1``, ``m1 and not m2``…"""
    return [(*tuple(own[:i]), own[i].negated()) for i in range(len(own))]


# ------------------------------------------------------------------------- planning


def _channel(config: Mapping[str, Any], where: str, report: list[ReportLine]) -> str:
    channel = _string(config.get("channel"), f"{where}.channel").strip()
    if not channel:
        report.append(
            ReportLine(
                NOTE,
                where,
                "no channel: Alertmanager posts to the webhook's own channel; the rule's "
                "channel is left blank (the alert's 'channel' label, else DEFAULT_CHANNEL) — "
                "set it to that webhook's channel",
            )
        )
        return ""
    if "{{" in channel:
        report.append(
            ReportLine(
                NOT_IMPORTED,
                where,
                f"the channel {channel!r} is a template; the rule's channel is left blank (the "
                "alert's 'channel' label, else DEFAULT_CHANNEL)",
            )
        )
        return ""
    if _CHANNEL_NAME.match(channel) or _CHANNEL_ID.match(channel):
        return channel
    if _CHANNEL_NAME.match(f"#{channel}"):
        return f"#{channel}"
    report.append(
        ReportLine(
            NOT_IMPORTED,
            where,
            f"the channel {channel!r} is not a '#name' or a channel id the rules accept; the "
            "rule's channel is left blank — set it by hand",
        )
    )
    return ""


def _message(
    config: Mapping[str, Any], receiver: str, where: str, report: list[ReportLine]
) -> tuple[str, str]:
    """The rule's message template and, for the description, the Go source."""
    title = config.get("title")
    text = config.get("text")
    title_source = DEFAULT_GO_TITLE if title is None else _string(title, f"{where}.title")
    text_source = "" if text is None else _string(text, f"{where}.text")
    go_source = "\n".join(
        f"{key}: {value}"
        for key, value in (("title", title_source), ("text", text_source))
        if value
    )
    parts = []
    notes: list[str] = []
    for key, source in (("title", title_source), ("text", text_source)):
        try:
            converted = convert(source, receiver=receiver)
        except UnsupportedTemplate as exc:
            report.append(
                ReportLine(
                    NOT_IMPORTED,
                    where,
                    f"the {key} template is not converted ({exc}); the rule gets the default "
                    f"message {DEFAULT_MESSAGE!r} and keeps the Go template in its description: "
                    "rewrite it in the Django template language (docs/templates.md)",
                )
            )
            return DEFAULT_MESSAGE, go_source
        notes += [n for n in converted.notes if n not in notes]
        if converted.template.strip():
            parts.append(
                f"*{converted.template.strip()}*" if key == "title" else converted.template
            )
    report.extend(ReportLine(NOTE, f"receiver {receiver!r}", note) for note in notes)
    return ("\n".join(parts) if parts else DEFAULT_MESSAGE), go_source


def _slack_rules_for(
    receiver: str, configs: Sequence[Any], report: list[ReportLine]
) -> list[dict[str, Any]]:
    """What each Slack config of a receiver becomes: channel and templates."""
    specs = []
    for i, raw in enumerate(configs):
        where = f"receiver {receiver!r} slack_configs[{i}]"
        if not isinstance(raw, Mapping):
            raise AlertmanagerConfigError(f"{where} must be a mapping")
        channel = _channel(raw, where, report)
        message, go_source = _message(raw, receiver, where, report)
        send_resolved = _bool(raw.get("send_resolved"), f"{where}.send_resolved")
        other = sorted(set(raw) - _SLACK_KEYS_CONVERTED)
        if other:
            report.append(
                ReportLine(
                    NOT_IMPORTED,
                    where,
                    f"{', '.join(other)} not imported: the rule sends one text message",
                )
            )
        specs.append(
            {
                "channel": channel,
                "message": message,
                "resolved": message if send_resolved else "",
                "go_source": go_source,
                "index": i,
            }
        )
    return specs


def _rule_name(prefix: str, receiver: str, path: str, extra: str, taken: set[str]) -> str:
    suffix = f" [{path}]{extra}"
    room = NAME_LENGTH - len(prefix) - len(suffix)
    shown = receiver if len(receiver) <= room else receiver[: max(room - 1, 0)] + "…"
    name = f"{prefix}{shown}{suffix}"[:NAME_LENGTH]
    counter = 2
    while name in taken:
        tail = f" ({counter})"
        name = f"{prefix}{shown}{suffix}"[: NAME_LENGTH - len(tail)] + tail
        counter += 1
    taken.add(name)
    return name


def plan_import(
    config: Mapping[str, Any],
    *,
    source: str = "",
    lowest_priority: int = 10,
    priority_step: int = 10,
    name_prefix: str = "",
) -> ImportPlan:
    """The rules that reproduce ``config``'s Slack routing, and the report.

    ``config`` is the parsed YAML (:func:`load_config`). Priorities fall by
    ``priority_step`` from the first rule to ``lowest_priority`` for the last, so the
    import can be placed above or below existing rules. Raises
    :class:`AlertmanagerConfigError` for a configuration Alertmanager would not load.
    """
    receivers = _receivers(config)
    root = _build_tree(config, receivers)
    report: list[ReportLine] = []
    _report_configuration(config, root, receivers, report)

    def is_slack(route: _Route) -> bool:
        return bool(_sequence(receivers[route.receiver].get("slack_configs"), "slack_configs"))

    def stops_the_rules(route: _Route) -> bool:
        """Whether, once this route (or one below it) took an alert, the planned rules
        stop as Alertmanager does: every route there has rules and no continue."""
        return all(is_slack(node) and not node.continues_after for node in route.subtree())

    slack_specs: dict[str, list[dict[str, Any]]] = {}
    for name, raw in receivers.items():
        configs = _sequence(raw.get("slack_configs"), f"receiver {name!r} slack_configs")
        if configs:
            slack_specs[name] = _slack_rules_for(name, configs, report)

    drafts: list[tuple[_Route, tuple[Matcher, ...], str]] = []
    for route in root.post_order():
        if not is_slack(route):
            continue
        path_matchers: tuple[Matcher, ...] = ()
        for node in [*route.ancestors(), route]:
            path_matchers = _add(path_matchers, node.own)
        blockers = list(route.children)
        for node in [*route.ancestors()[1:], route]:
            blockers += [s for s in node.earlier_siblings() if not s.cont]
        catch_all = next((b for b in blockers if not b.own), None)
        if catch_all is not None:
            report.append(
                ReportLine(
                    NOTE,
                    route.path,
                    f"never gets an alert in Alertmanager: {catch_all.path} before it has no "
                    "matchers and takes every alert; no rule",
                )
            )
            continue
        if _contradicts(path_matchers):
            report.append(ReportLine(NOTE, route.path, "its matchers can never all match; no rule"))
            continue
        needed = [b for b in blockers if not stops_the_rules(b)]
        variants: list[tuple[Matcher, ...]] = [path_matchers]
        for blocker in needed:
            grown = [
                _add(variant, alternative)
                for variant in variants
                for alternative in _negation(blocker.own)
            ]
            variants = [v for v in grown if not _contradicts(v)]
            if len(variants) > MAX_VARIANTS:
                break
        if len(variants) > MAX_VARIANTS:
            report.append(
                ReportLine(
                    INEXACT,
                    route.path,
                    f"excluding the alerts of {', '.join(b.path for b in needed)} would take "
                    f"more than {MAX_VARIANTS} rules; the rule has the route's own matchers only, "
                    "so it can also get alerts Alertmanager gives those routes",
                )
            )
            variants = [path_matchers]
        elif not variants:
            report.append(
                ReportLine(
                    NOTE,
                    route.path,
                    "never gets an alert in Alertmanager: the routes before it take all alerts "
                    "it matches; no rule",
                )
            )
            continue
        variants = [_simplify(v, path_matchers) for v in variants]
        if needed and any(len(v) > len(path_matchers) for v in variants):
            added = " | ".join(
                ", ".join(str(m) for m in v if m not in path_matchers) or "nothing"
                for v in variants
            )
            why = ", ".join(f"{b.path} ({_why_blocking(b, is_slack)})" for b in needed)
            split = f" (one rule each: {len(variants)} disjoint rules)" if len(variants) > 1 else ""
            report.append(
                ReportLine(
                    NOTE,
                    route.path,
                    f"added {added}{split} so it only gets alerts "
                    f"Alertmanager gives it, not those of {why}",
                )
            )
        for variant_index, variant in enumerate(variants, start=1):
            tag = f" ({variant_index}/{len(variants)})" if len(variants) > 1 else ""
            drafts.append((route, variant, tag))

    rules: list[PlannedRule] = []
    taken: set[str] = set()
    total = sum(len(slack_specs[route.receiver]) for route, _, _ in drafts)
    position = 0
    for route, variant, tag in drafts:
        specs = slack_specs[route.receiver]
        for spec_index, spec in enumerate(specs):
            extra = (f" #{spec['index'] + 1}" if len(specs) > 1 else "") + tag
            last = spec_index == len(specs) - 1
            description = (
                f"Imported from Alertmanager{f' ({source})' if source else ''}: route "
                f"{route.path}, receiver {route.receiver!r}, slack_configs[{spec['index']}]."
            )
            if spec["go_source"]:
                description += f"\nAlertmanager templates:\n{spec['go_source']}"
            rules.append(
                PlannedRule(
                    name=_rule_name(name_prefix, route.receiver, route.path, extra, taken),
                    priority=lowest_priority + (total - 1 - position) * priority_step,
                    matchers=variant,
                    continue_matching=route.continues_after if last else True,
                    slack_channel=spec["channel"],
                    message_template=spec["message"],
                    resolved_message_template=spec["resolved"],
                    description=description,
                    route=route.path,
                    receiver=route.receiver,
                )
            )
            position += 1
    return ImportPlan(rules=rules, report=_merge_notes(report), source=source)


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


def _report_configuration(
    config: Mapping[str, Any],
    root: _Route,
    receivers: Mapping[str, Mapping[str, Any]],
    report: list[ReportLine],
) -> None:
    """What the rules will not do: grouping, timing, intervals, inhibition, other receivers."""
    for i, _ in enumerate(_sequence(config.get("inhibit_rules"), "inhibit_rules")):
        report.append(
            ReportLine(
                NOT_IMPORTED,
                f"inhibit_rules[{i}]",
                "inhibition is not imported: alerts it would mute are sent (silence them "
                "in Alertmanager, which the package honours as is_silenced)",
            )
        )
    if _sequence(config.get("templates"), "templates"):
        report.append(
            ReportLine(
                NOTE,
                "templates",
                "template files are not read: a Slack template using their named templates is "
                "reported and gets the default message",
            )
        )
    for route in root.subtree():
        unknown = sorted(set(route.raw) - _ROUTE_KEYS)
        if unknown:
            report.append(
                ReportLine(NOTE, route.path, f"unknown keys ignored: {', '.join(unknown)}")
            )
        for key in ("mute_time_intervals", "active_time_intervals"):
            names = _sequence(route.raw.get(key), f"{route.path}.{key}")
            if names:
                report.append(
                    ReportLine(
                        NOT_IMPORTED,
                        route.path,
                        f"{key} ({', '.join(map(str, names))}) not imported: its rules send "
                        "at any time",
                    )
                )
        timing = [key for key in _TIMING_KEYS if key in route.raw]
        if timing:
            report.append(
                ReportLine(
                    NOT_IMPORTED,
                    route.path,
                    f"{', '.join(timing)} not imported: the package sends one message per "
                    "alert as it fires and resolves, without grouping or repeats",
                )
            )
    for name, raw in receivers.items():
        kinds = sorted(
            key
            for key, value in raw.items()
            if key.endswith("_configs") and key != "slack_configs" and value
        )
        if kinds:
            has_slack = bool(raw.get("slack_configs"))
            report.append(
                ReportLine(
                    NOT_IMPORTED,
                    f"receiver {name!r}",
                    f"{', '.join(kinds)} not imported"
                    + ("" if has_slack else ": its routes get no rule"),
                )
            )
        elif not raw.get("slack_configs"):
            report.append(
                ReportLine(
                    NOTE,
                    f"receiver {name!r}",
                    "sends nowhere (no configs): its routes get no rule",
                )
            )
    global_ = config.get("global")
    if isinstance(global_, Mapping) and any(str(k).startswith("slack_api_url") for k in global_):
        report.append(
            ReportLine(
                NOTE,
                "global",
                "Slack webhook URLs are not imported: the gateway holds them "
                "(docs/gateway.md), one webhook per channel",
            )
        )
