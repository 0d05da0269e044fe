"""Eight real, public ``alertmanager.yml`` files (``tests/alertmanager_configs/real``) as
regression tests: each is imported, and the planned rules must send every generated label
set to the Slack receivers ``amtool config routes test`` picks, in the same order.

The label sets come from each configuration's own matchers (``tests/alertmanager_labels.py``:
equalities, strings that satisfy and violate each regex, labels missing). The comparison is
shown to catch a broken importer: the same answers, compared with plans mutated the way an
importer could go wrong (negative matchers dropped, ``continue`` ignored, parents ranked
before their children), must differ somewhere. ``continue_parent.yml`` adds what no real
configuration has: parent routes with ``continue`` above Slack children.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from django_slack_rules.contrib.alertmanager import ImportPlan, PlannedRule, plan_file
from django_slack_rules.matchers import NOT_EQUAL, NOT_REGEX
from tests.alertmanager_labels import Labels, label_sets
from tests.test_alertmanager_import import CONFIGS, amtool_receivers, slack_receivers

# Thousands of amtool runs whose outcome depends on no Django, database or broker: one env.
pytestmark = pytest.mark.single_env

REAL = CONFIGS / "real"
REAL_CONFIGS = sorted(path.name for path in REAL.glob("*.yml"))
#: The hand-made configurations compared the same way.
MADE = ["continue_parent.yml", "continue.yml"]
LABEL_SETS = 300


def path_of(name: str) -> Path:
    return REAL / name if name in REAL_CONFIGS else CONFIGS / name


@functools.cache
def planned(name: str) -> ImportPlan:
    return plan_file(path_of(name))


@functools.cache
def answers(name: str) -> tuple[tuple[Labels, tuple[str, ...]], ...]:
    """Each generated label set with the Slack receivers amtool routes it to, in order."""
    path = path_of(name)
    rules = planned(name).rules  # a label set for each rule too, to reach every variant
    sets = label_sets(path, LABEL_SETS, also_reach=[rule.matchers for rule in rules])
    with ThreadPoolExecutor(max_workers=2) as pool:
        routed = list(pool.map(lambda labels: amtool_receivers(path, labels), sets))
    slack = slack_receivers(path)
    return tuple(
        (labels, tuple(r for r in receivers if r in slack))
        for labels, receivers in zip(sets, routed)
    )


def differences(plan: ImportPlan, name: str) -> list[tuple[Labels, list[str], list[str]]]:
    """(labels, amtool's Slack receivers, the plan's) for every label set where they differ."""
    return [
        (labels, list(expected), plan.receivers_for(labels))
        for labels, expected in answers(name)
        if plan.receivers_for(labels) != list(expected)
    ]


def test_the_eight_real_configurations_are_here_with_their_sources():
    assert len(REAL_CONFIGS) == 8
    for name in REAL_CONFIGS:
        assert (REAL / name).read_text().startswith("# source: github.com/"), name


@pytest.mark.parametrize("name", REAL_CONFIGS + MADE)
def test_the_import_routes_every_label_set_as_amtool_does(name):
    plan = planned(name)
    assert plan.exact, plan.format()
    assert plan.rules, "no Slack route imported"
    found = differences(plan, name)
    assert found == [], f"{len(found)} of {len(answers(name))} label sets differ: {found[:5]}"


@pytest.mark.parametrize("name", REAL_CONFIGS + MADE)
def test_the_label_sets_reach_the_slack_routes(name):
    """The comparison means something only if alerts reach the imported routes: nearly every
    planned rule gets some label set, and some label sets reach Slack at all."""
    plan = planned(name)
    taken = {rule.name for labels, _ in answers(name) for rule in plan.select(labels)}
    assert len(taken) >= 0.9 * len(plan.rules), sorted({r.name for r in plan.rules} - taken)
    assert any(expected for _, expected in answers(name))


# -- the comparison fails when the importer is broken -----------------------------------


def _without_negations(rule: PlannedRule) -> PlannedRule:
    kept = tuple(m for m in rule.matchers if m.op not in (NOT_EQUAL, NOT_REGEX))
    return dataclasses.replace(rule, matchers=kept)


def _continue_ignored(rule: PlannedRule) -> PlannedRule:
    return dataclasses.replace(rule, continue_matching=False)


def _parents_first(plan: ImportPlan) -> list[PlannedRule]:
    """The rules ranked parents before children (their priorities reversed)."""
    priorities = [rule.priority for rule in plan.rules]
    return [
        dataclasses.replace(rule, priority=priority)
        for rule, priority in zip(plan.rules, reversed(priorities))
    ]


MUTATIONS: dict[str, Callable[[ImportPlan], list[PlannedRule]]] = {
    "negative matchers dropped": lambda plan: [_without_negations(r) for r in plan.rules],
    "continue ignored": lambda plan: [_continue_ignored(r) for r in plan.rules],
    "parents ranked before children": _parents_first,
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_the_comparison_fails_for_a_mutated_importer(mutation):
    """Each way of breaking the import is caught by the real configurations' comparison (and
    the parent-with-continue configuration), on label sets where the real plan is right."""
    caught = {}
    for name in [*REAL_CONFIGS, "continue_parent.yml"]:
        plan = planned(name)
        broken = dataclasses.replace(plan, rules=MUTATIONS[mutation](plan))
        caught[name] = len(differences(broken, name))
    assert sum(caught.values()) > 0, f"{mutation}: no label set tells the broken import apart"


def test_continue_on_a_parent_above_slack_children_is_caught_when_ignored():
    """The parent-with-continue configuration alone catches an import that ignores
    ``continue``: no real configuration has such a parent."""
    plan = planned("continue_parent.yml")
    broken = dataclasses.replace(plan, rules=MUTATIONS["continue ignored"](plan))
    found = differences(broken, "continue_parent.yml")
    assert found
    # e.g. a team alert a Slack child takes goes on past the (non-Slack) parent
    assert any("slack-page" in expected or "slack-prod" in expected for _, expected, _ in found)
