"""The rule index is updated rule by rule, not rebuilt: after random creates, edits,
deactivations and deletes the updated index matches exactly as a fresh build does; one edit
reloads one rule; a full rebuild happens only when the log of changes cannot say what
changed; and an edit in another process is seen by the next match, as before.
"""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_slack_rules.matchers import positive_equalities
from django_slack_rules.matching.compiled import compile_rule
from django_slack_rules.matching.index import RuleIndex
from django_slack_rules.models import (
    RuleChange,
    RuleSetVersion,
    SlackIntegrationRule,
    note_change,
)
from django_slack_rules.models.ruleset import MAX_RULES
from django_slack_rules.services.slack_matcher import SlackRuleMatcherService, build_index
from tests.factories import RuleFactory

ROOT = Path(__file__).resolve().parent.parent
LABELS = {"team": ["db", "web", ""], "env": ["prod", "dev"], "sev": ["a", "b", "c"]}
CRITERIA = st.one_of(
    st.dictionaries(st.sampled_from(sorted(LABELS)), st.sampled_from(["db", "prod", "a"])),
    st.lists(
        st.sampled_from(
            ['team="db"', 'team="web"', 'env!="prod"', 'sev=~"a|b"', 'team=""', 'sev!~"c"']
        ),
        max_size=3,
        unique=True,
    ),
)
ALL_LABEL_SETS = [
    {k: v for k, v in (("team", team), ("env", env), ("sev", sev)) if v}
    for team in LABELS["team"]
    for env in [*LABELS["env"], ""]
    for sev in [*LABELS["sev"], ""]
]


def assert_same(updated: RuleIndex, fresh: RuleIndex) -> None:
    """The same rules, picked alike for every label set, and a well-formed index."""
    assert set(updated.by_id) == set(fresh.by_id)
    for rule_id, rule in fresh.by_id.items():
        other = updated.by_id[rule_id]
        assert (other.priority, other.name, other.matchers, other.continue_matching) == (
            rule.priority,
            rule.name,
            rule.matchers,
            rule.continue_matching,
        )
    assert updated.skipped == fresh.skipped
    for labels in ALL_LABEL_SETS:
        assert [r.id for r in updated.select(labels)] == [r.id for r in fresh.select(labels)]
        assert [r.id for r in updated.candidates(labels)] == [
            r.id for r in fresh.candidates(labels)
        ]
    filed = [*updated.unanchored, *(item for b in updated.buckets.values() for item in b)]
    assert sorted(rule.id for _, rule in filed) == sorted(fresh.by_id)  # each rule once
    for pair, bucket in updated.buckets.items():
        assert bucket
        assert [rank for rank, _ in bucket] == sorted(rank for rank, _ in bucket)
        assert all(pair in positive_equalities(rule.matchers) for _, rule in bucket)
    assert updated.frequency == fresh.frequency


# -- the pure index ----------------------------------------------------------------------


PURE_OPS = st.lists(
    st.tuples(
        st.sampled_from(["put", "remove"]),
        st.integers(0, 7),  # rule id
        st.integers(0, 5),  # priority
        CRITERIA,
        st.booleans(),  # continue matching
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(start=PURE_OPS, ops=PURE_OPS)
def test_an_updated_index_matches_as_a_fresh_build(start, ops):
    rules = {}
    for _, rule_id, priority, criteria, cont in start:
        rules[rule_id] = compile_rule(rule_id, priority, f"r{rule_id}", criteria, None, cont)
    index = RuleIndex.build(rules.values())
    for op, rule_id, priority, criteria, cont in ops:
        if op == "put":
            rules[rule_id] = compile_rule(rule_id, priority, f"r{rule_id}", criteria, None, cont)
            index = index.updated([rule_id], [rules[rule_id]])
        else:
            rules.pop(rule_id, None)
            index = index.updated([rule_id], [])
        assert_same(index, RuleIndex.build(rules.values()))


def test_an_update_leaves_the_old_index_as_it_was():
    """Copy on write: a thread still matching against the old index is not disturbed."""
    a = compile_rule(1, 5, "a", {"team": "db"})
    b = compile_rule(2, 1, "b", {"team": "db"})
    old = RuleIndex.build([a])
    new = old.updated([2], [b])
    assert [r.name for r in old.candidates({"team": "db"})] == ["a"]
    assert [r.name for r in new.candidates({"team": "db"})] == ["a", "b"]
    assert old.updated([1], []).match({"team": "db"}) is None
    assert old.match({"team": "db"}) is a


# -- the service, against the database ----------------------------------------------------


@contextmanager
def index_log() -> Iterator[list[str]]:
    """The matcher's "Rebuilt" / "Updated" debug lines while the block runs."""
    lines: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    log = logging.getLogger("django_slack_rules.services.slack_matcher")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def rebuilds(lines: list[str]) -> int:
    return sum(line.startswith("Rebuilt") for line in lines)


DB_OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["create", "edit", "deactivate", "activate", "delete", "bulk", "update", "broken"]
        ),
        st.integers(0, 9),  # which rule (by position among the rules)
        st.integers(0, 5),
        CRITERIA,
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


#: Names no two bulk-created rules share, across the steps of a sequence.
BULK_NAMES = itertools.count()


def apply(op: str, pick: int, priority: int, criteria, cont: bool) -> None:
    rules = list(SlackIntegrationRule.objects.order_by("pk"))
    rule = rules[pick % len(rules)] if rules else None
    fields = {"priority": priority, "match_criteria": criteria, "continue_matching": cont}
    if op == "create" or rule is None:
        RuleFactory(name=f"rule {SlackIntegrationRule.objects.count()} {pick}", **fields)
    elif op == "edit":
        for name, value in fields.items():
            setattr(rule, name, value)
        rule.save()
    elif op in ("deactivate", "activate"):
        rule.is_active = op == "activate"
        rule.save()
    elif op == "delete":
        rule.delete()
    elif op == "bulk":
        SlackIntegrationRule.objects.bulk_create(
            [
                SlackIntegrationRule(
                    name=f"bulk {next(BULK_NAMES)}", message_template="x", **fields
                )
                for _ in range(2)
            ]
        )
    elif op == "update":
        SlackIntegrationRule.objects.filter(priority__lte=priority).update(is_active=cont)
    else:  # criteria that no longer parse, written around validation
        SlackIntegrationRule.objects.filter(pk=rule.pk).update(match_criteria=["team db"])


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(start=DB_OPS, ops=DB_OPS)
def test_the_service_updates_its_index_as_a_fresh_build_would_be(start, ops):
    SlackIntegrationRule.objects.all().delete()
    service = SlackRuleMatcherService()
    for step in start:
        apply(*step)
    service.get_index()  # built (or updated) here: the rest must be updates
    with index_log() as lines:
        for step in ops:
            apply(*step)
            updated = service.get_index()
            assert_same(updated, build_index(SlackIntegrationRule.objects.active()))
    assert rebuilds(lines) == 0, lines


@pytest.mark.django_db
def test_one_edit_reloads_one_rule_in_three_queries(django_assert_num_queries):
    for i in range(50):
        RuleFactory(name=f"r{i:02d}", priority=i, match_criteria={"team": f"t{i}"})
    service = SlackRuleMatcherService()
    service.find_matching_rules({"team": "t1"})
    rule = SlackIntegrationRule.objects.get(name="r01")
    rule.priority, rule.match_criteria = 99, {"team": "new"}
    rule.save()
    with index_log() as lines, django_assert_num_queries(3):  # version, changes, the rule
        assert [r.name for r in service.find_matching_rules({"team": "new"})] == ["r01"]
    assert lines == [lines[0]]
    assert lines[0].startswith("Updated the rule index: 1 changed")
    assert service.find_matching_rules({"team": "t1"}) == []


@pytest.mark.django_db
def test_a_change_committed_between_the_version_read_and_the_log_costs_no_rebuild(
    django_assert_num_queries,
):
    """The index is at the version of the last change it read, not the version read before:
    the next match finds it current (one query) instead of rebuilding."""
    RuleFactory(name="a", match_criteria={"team": "db"})
    service = SlackRuleMatcherService()
    service.get_index()
    RuleFactory(name="b", match_criteria={"team": "db"}, priority=5)
    read = RuleSetVersion.current()
    RuleFactory(name="c", match_criteria={"team": "web"})  # commits after that read
    with index_log() as lines:
        # a match that read the version before "c" committed, and the log after
        assert service.get_index(read).match({"team": "db"}).name == "b"
        with django_assert_num_queries(1):
            assert service.find_matching_rule({"team": "web"}).name == "c"
    assert len(lines) == 1
    assert lines[0].startswith("Updated the rule index: 2 changed")


def raw_priority_change() -> None:
    """Rules changed around the ORM (no model signal, nothing logged)."""
    table = connection.ops.quote_name(SlackIntegrationRule._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET priority = 5000 WHERE name = %s", ["r7"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda: (raw_priority_change(), RuleSetVersion.bump()),
            id="the version moved without a logged change",
        ),
        pytest.param(
            lambda: (
                raw_priority_change(),
                note_change(connection.alias, None),
                RuleFactory(name="after", match_criteria={"team": "web"}),
            ),
            id="a change of any rule was logged",
        ),
        pytest.param(
            lambda: SlackIntegrationRule.objects.update(priority=7), id="a bulk change of many"
        ),
        pytest.param(
            lambda: (RuleChange.objects.all().delete(), RuleFactory(name="after")),
            id="the log was pruned past this process",
        ),
    ],
)
def test_the_index_is_rebuilt_when_the_log_cannot_say_what_changed(change):
    SlackIntegrationRule.objects.bulk_create(
        [
            SlackIntegrationRule(name=f"r{i}", match_criteria={"team": "db"}, message_template="x")
            for i in range(MAX_RULES + 1)
        ]
    )
    service = SlackRuleMatcherService()
    service.get_index()
    change()
    with index_log() as lines:
        index = service.get_index()
    assert rebuilds(lines) == 1
    assert_same(index, build_index(SlackIntegrationRule.objects.active()))


@pytest.mark.django_db(transaction=True)
def test_an_edit_in_another_process_updates_this_process_index():
    rule = RuleFactory(name="web", match_criteria={"team": "web"})
    matcher = SlackRuleMatcherService()
    assert matcher.find_matching_rule({"team": "web"}) == rule
    script = (
        "import django; django.setup();"
        "from django_slack_rules.models import SlackIntegrationRule as R;"
        "r = R.objects.get(name='web'); r.match_criteria = {'team': 'db'}; r.save()"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DSR_WORKER_DB": str(connection.settings_dict["NAME"]),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with index_log() as lines:
        assert matcher.find_matching_rule({"team": "web"}) is None
        assert matcher.find_matching_rule({"team": "db"}) == rule
    assert rebuilds(lines) == 0
    assert lines[0].startswith("Updated the rule index: 1 changed")
