"""Keeping the flat rules exact: the negated matchers that keep a route's rule from the
alerts Alertmanager gives an earlier route (an earlier sibling that stops the search, or a
child that takes them from its parent) when ranking alone would not. A route with one
matcher is negated by one matcher; a route with several splits the rule into disjoint
variants, up to :data:`MAX_VARIANTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ...matching.matchers import EQUAL, NOT_EQUAL, Matcher
from .result import INEXACT, NOTE, ReportLine
from .routes import _Route

#: The most variants one route's rule is split into to stay exact.
MAX_VARIANTS = 8


def _why_blocking(route: _Route, is_slack: Callable[[_Route], bool]) -> str:
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


def _stops_the_rules(route: _Route, is_slack: Callable[[_Route], bool]) -> bool:
    """Whether, once this route (or one below it) took an alert, the planned rules
    stop as Alertmanager does: every route there has rules and no continue."""
    return all(is_slack(node) and not node.continues_after for node in route.subtree())


def _exact_variants(
    route: _Route, is_slack: Callable[[_Route], bool], report: list[ReportLine]
) -> list[tuple[Matcher, ...]]:
    """The criteria of a Slack route's rule: its path's matchers and the negations that keep
    away the alerts of the routes before it, one tuple per disjoint variant; none when the
    route never gets an alert in Alertmanager. What was added or left inexact is reported."""
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
        return []
    if _contradicts(path_matchers):
        report.append(ReportLine(NOTE, route.path, "its matchers can never all match; no rule"))
        return []
    needed = [b for b in blockers if not _stops_the_rules(b, is_slack)]
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
        return []
    variants = [_simplify(v, path_matchers) for v in variants]
    if needed and any(len(v) > len(path_matchers) for v in variants):
        added = " | ".join(
            ", ".join(str(m) for m in v if m not in path_matchers) or "nothing" for v in variants
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
    return variants
