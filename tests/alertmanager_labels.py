"""Label sets that walk an Alertmanager configuration's routes, for comparing an import with
``amtool config routes test``: built from the configuration's own matchers.

For each label a route matches on, the candidate values are the values of its equalities
(``=`` and ``!=``), strings that satisfy each regex (one per top-level alternative) and
strings that violate it (a satisfying string with a prefix or a suffix), a value no matcher
names (``other``), and the label missing. Then, best first:

1. for each route (and each list of matchers asked for), a label set that reaches it (each
   label of its path set to a value that passes every matcher of the path on that label, or
   left out when missing passes);
2. each of those with one label changed to each other candidate, or removed;
3. random combinations of candidates over all labels (seeded), to fill up to the count.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hypothesis import find, settings
from hypothesis import strategies as st

from django_slack_rules.contrib.alertmanager import load_config
from django_slack_rules.matchers import EQUAL, NOT_EQUAL, REGEX, Matcher, parse_matchers

Labels = dict[str, str]
MISSING = None


def route_paths(config: Mapping[str, Any]) -> list[tuple[Matcher, ...]]:
    """The matchers of every route's path (its own and its ancestors'), root first."""
    paths: list[tuple[Matcher, ...]] = []

    def walk(route: Mapping[str, Any], above: tuple[Matcher, ...]) -> None:
        own = [Matcher(str(k), EQUAL, str(v)) for k, v in (route.get("match") or {}).items()]
        own += [Matcher(str(k), REGEX, str(v)) for k, v in (route.get("match_re") or {}).items()]
        for text in route.get("matchers") or []:
            own.extend(parse_matchers(text))
        path = (*above, *own)
        paths.append(path)
        for child in route.get("routes") or []:
            walk(child, path)

    walk(config["route"], ())
    return paths


def branches(pattern: str) -> list[str]:
    """The top-level alternatives of a regex (``a|b(c|d)`` → ``a``, ``b(c|d)``)."""
    found, depth, start, i = [], 0, 0, 0
    in_class = False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            found.append(pattern[start:i])
            start = i + 1
        i += 1
    return [*found, pattern[start:]]


def satisfying(pattern: str) -> list[str]:
    """Short strings that the fully anchored ``pattern`` matches, one per alternative."""
    out = []
    for branch in branches(pattern):
        try:
            text = find(
                st.from_regex(branch, fullmatch=True),
                lambda s: True,
                settings=settings(database=None, max_examples=200),
            )
        except Exception:  # a branch Python's re reads otherwise than RE2: skip it
            continue
        out.append(text)
    return out


def candidates(matchers: Iterable[Matcher]) -> dict[str, list[str | None]]:
    """For each label named, the values worth trying (``None``: the label missing)."""
    values: dict[str, list[str | None]] = {}
    for m in matchers:
        found = values.setdefault(m.name, [MISSING])
        if m.op in (EQUAL, NOT_EQUAL):
            new: list[str] = [m.value, "other"]
        else:
            good = satisfying(m.value)
            new = [*good, *(f"{g}-x" for g in good), *(f"x{g}" for g in good), "other"]
        found.extend(v for v in new if v not in found)
    return values


def as_labels(choice: Mapping[str, str | None]) -> Labels:
    return {name: value for name, value in choice.items() if value is not MISSING}


def reaching(path: Sequence[Matcher], values: Mapping[str, list[str | None]]) -> Labels | None:
    """Labels that pass every matcher of ``path``, from the candidates; None if none do."""
    labels: Labels = {}
    for name in dict.fromkeys(m.name for m in path):
        on_label = [m for m in path if m.name == name]
        fits = [
            v
            for v in values[name]
            if all(m.matches({} if v is MISSING else {name: v}) for m in on_label)
        ]
        if not fits:
            return None
        if fits[0] is not MISSING:
            labels[name] = fits[0]
    return labels


def label_sets(
    config_path: Path,
    count: int = 300,
    seed: int = 24,
    also_reach: Sequence[Sequence[Matcher]] = (),
) -> list[Labels]:
    """Up to ``count`` distinct label sets for ``config_path``, the most telling first.
    ``also_reach``: more lists of matchers to build a reaching label set for (e.g. each
    imported rule's, so that the disjoint variants of a route get an alert each)."""
    config = load_config(config_path.read_text(encoding="utf-8"))
    paths = [*route_paths(config), *(tuple(m) for m in also_reach)]
    values = candidates(m for path in paths for m in path)
    found: dict[tuple[tuple[str, str], ...], Labels] = {}

    def add(labels: Labels) -> None:
        found.setdefault(tuple(sorted(labels.items())), labels)

    reached = [labels for labels in (reaching(p, values) for p in paths) if labels is not None]
    for labels in reached:
        add(labels)
    rng = random.Random(f"{seed}:{config_path.name}")
    variants: list[Labels] = []
    for labels in reached:
        for name in values:
            for value in values[name]:
                changed = {**labels, name: value}
                variants.append(as_labels(changed))
    rng.shuffle(variants)
    for labels in variants:
        add(labels)
    names = sorted(values)
    attempts = 0
    while len(found) < count and attempts < count * 20:
        attempts += 1
        add(as_labels({name: rng.choice(values[name]) for name in names}))
    return list(found.values())[:count]
