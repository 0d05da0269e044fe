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

from collections.abc import Mapping
from pathlib import Path

from ...matching.matchers import Matcher
from .config import AlertmanagerConfigError, _receivers, _sequence, load_config
from .result import ImportPlan, PlannedRule, ReportLine, _merge_notes
from .routes import _build_tree, _Route
from .slack_configs import SlackSpec, _slack_rules_for
from .strict import check_structure
from .unsupported import _report_configuration
from .validation import check_values
from .variants import _exact_variants

#: Rule names are at most this long (the model's ``name`` field).
NAME_LENGTH = 255


def plan_file(
    path: str | Path,
    *,
    lowest_priority: int = 10,
    priority_step: int = 10,
    name_prefix: str = "",
) -> ImportPlan:
    """:func:`plan_import` for a configuration file (e.g. ``alertmanager.yml``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AlertmanagerConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return plan_import(
        load_config(text, source=str(path)),
        source=str(path),
        lowest_priority=lowest_priority,
        priority_step=priority_step,
        name_prefix=name_prefix,
    )


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
    config: Mapping[str, object],
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
    :class:`AlertmanagerConfigError` for a configuration Alertmanager would not load: a key
    it does not read (a typo), a value of the wrong shape, a setting it requires missing;
    every problem is named, with its line when ``config`` came from :func:`load_config`.
    """
    check_structure(config, source)
    check_values(config, source)
    receivers = _receivers(config)
    root = _build_tree(config, receivers)
    report: list[ReportLine] = []
    _report_configuration(config, root, receivers, report)

    def is_slack(route: _Route) -> bool:
        return bool(_sequence(receivers[route.receiver].get("slack_configs"), "slack_configs"))

    slack_specs: dict[str, list[SlackSpec]] = {}
    for name, raw in receivers.items():
        configs = _sequence(raw.get("slack_configs"), f"receiver {name!r} slack_configs")
        if configs:
            slack_specs[name] = _slack_rules_for(name, configs, report)

    drafts: list[tuple[_Route, tuple[Matcher, ...], str]] = []
    for route in root.post_order():
        if not is_slack(route):
            continue
        variants = _exact_variants(route, is_slack, report)
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
