"""Matching: the pure index (checked against the plain reference) and the service."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction
from hypothesis import event, given, settings
from hypothesis import strategies as st

from django_slack_rules.matchers import CriteriaError, PlainRule, select_rules
from django_slack_rules.matching.compiled import compile_rule, example_labels, reference_match
from django_slack_rules.matching.explain import explain_criteria, regex_warnings
from django_slack_rules.matching.index import RuleIndex
from django_slack_rules.models import SlackIntegrationRule
from django_slack_rules.services.slack_matcher import SlackRuleMatcherService, build_index
from tests.factories import RuleFactory


def rules(*specs):
    return [compile_rule(i, p, n, c) for i, (n, p, c) in enumerate(specs)]


class TestRuleIndex:
    def test_subset_match_and_priority(self):
        index = RuleIndex.build(
            rules(
                ("catch-all", 0, {}),
                ("critical", 10, {"severity": "critical"}),
                ("db-critical", 20, {"severity": "critical", "team": "db"}),
            )
        )
        assert index.match({"severity": "critical", "team": "db", "x": "y"}).name == "db-critical"
        assert index.match({"severity": "critical", "team": "web"}).name == "critical"
        assert index.match({"severity": "warning"}).name == "catch-all"

    def test_equal_priority_is_broken_by_name(self):
        index = RuleIndex.build(rules(("b", 5, {"a": "1"}), ("a", 5, {"b": "2"})))
        assert index.match({"a": "1", "b": "2"}).name == "a"

    def test_no_match_without_catch_all(self):
        index = RuleIndex.build(rules(("x", 1, {"env": "prod"})))
        assert index.match({"env": "staging"}) is None
        assert RuleIndex.build([]).match({"a": "b"}) is None

    def test_values_must_be_equal_not_just_present(self):
        index = RuleIndex.build(rules(("x", 1, {"env": "prod"})))
        assert index.match({"env": "prod-2"}) is None

    def test_candidates_are_listed_best_first(self):
        index = RuleIndex.build(
            rules(("all", 0, {}), ("sev", 5, {"severity": "critical"}), ("other", 9, {"a": "b"}))
        )
        assert [r.name for r in index.candidates({"severity": "critical"})] == ["sev", "all"]

    def test_list_form_rules_without_an_equality_are_checked_for_every_alert(self):
        index = RuleIndex.build(
            rules(
                ("pager", 50, ['severity=~"critical|page"']),
                ("not-db", 10, ['team!="db"']),
                ("db", 20, ['team="db"', 'env!~"dev|test"']),
            )
        )
        assert [r.name for _, r in index.unanchored] == ["pager", "not-db"]
        assert list(index.buckets) == [("team", "db")]
        assert index.match({"severity": "page", "team": "db"}).name == "pager"
        assert index.match({"team": "db", "env": "prod"}).name == "db"
        assert index.match({"team": "db", "env": "dev"}) is None
        assert index.match({}).name == "not-db"  # a missing label is "", which is not "db"

    def test_the_fan_out_follows_continue_matching(self):
        index = RuleIndex.build(
            [
                compile_rule(
                    1, 300, "pager", ['severity=~"critical|page"'], continue_matching=True
                ),
                compile_rule(2, 200, "db", {"team": "db"}),
                compile_rule(3, 0, "all", []),
            ]
        )
        assert [r.name for r in index.select({"severity": "page", "team": "db"})] == ["pager", "db"]
        assert [r.name for r in index.select({"severity": "critical"})] == ["pager", "all"]
        assert [r.name for r in index.select({"team": "db"})] == ["db"]
        assert [r.name for r in index.select({"team": "web"})] == ["all"]

    def test_one_matcher_text_is_parsed_and_compiled_once_per_build(self):
        cache = {}
        first = compile_rule(1, 0, "a", ['job=~"node-.*"'], cache=cache)
        second = compile_rule(2, 0, "b", ['job=~"node-.*"', 'x="1"'], cache=cache)
        assert first.matchers[0] is second.matchers[0]
        assert first.matchers[0].regex is not None

    def test_legacy_object_values_are_compared_as_text_as_before(self):
        index = RuleIndex.build(rules(("code", 1, {"code": 500, "up": True})))
        assert index.match({"code": "500", "up": "True"}).name == "code"
        assert index.match({"code": "501", "up": "True"}) is None

    def test_criteria_that_do_not_parse_raise(self):
        with pytest.raises(CriteriaError, match="matcher 1"):
            compile_rule(1, 0, "bad", ["team db"])
        with pytest.raises(CriteriaError):
            compile_rule(1, 0, "bad", "team=db")


class TestExplaining:
    def test_each_matchers_verdict_with_the_actual_value(self):
        found = explain_criteria(
            ['severity=~"crit"', 'team!="db"', 'env="prod"'], {"severity": "critical", "team": "db"}
        )
        assert [(v.text, v.passed, v.actual, v.partial) for v in found] == [
            ('severity=~"crit"', False, "critical", True),
            ('team!="db"', False, "db", False),
            ('env="prod"', False, None, False),
        ]
        assert explain_criteria({"team": "db"}, {"team": "db"}, failing_only=True) == []
        assert explain_criteria(["not a matcher"], {}) == []

    def test_regex_warnings_name_the_regexes_a_sample_fails(self):
        rule = compile_rule(1, 0, "r", ['severity=~"crit"', 'team="db"', 'env!~"prod"'])
        found = regex_warnings(rule.matchers, {"severity": "critical", "env": "prod"})
        assert [v.text for v in found] == ['severity=~"crit"', 'env!~"prod"']

    def test_example_labels_satisfy_what_can_be_read_off(self):
        rule = compile_rule(1, 0, "r", ['severity=~"critical|page"', 'team="db"', 'job=~"n.*"'])
        assert example_labels(rule.matchers) == {"severity": "critical", "team": "db"}


# -- the index against the plain reference, on both forms and on fan-out ------------------

label_names = st.sampled_from(["alertname", "severity", "team", "env", "job", "instance"])
label_values = st.sampled_from(["a", "b", "c", "critical", ""])
criteria = st.dictionaries(label_names, label_values, max_size=3)
rule_specs = st.lists(st.tuples(st.integers(-3, 3), criteria), max_size=25)

OPERATOR_VALUES = {
    "=": ["a", "b", "critical", ""],
    "!=": ["a", "b", ""],
    "=~": ["a|b", "crit.*", ".+", "", "b", "(?i)A"],
    "!~": ["a|b", ".*", "c", ""],
}


@st.composite
def matcher_texts(draw):
    name = draw(label_names)
    op = draw(st.sampled_from(sorted(OPERATOR_VALUES)))
    value = draw(st.sampled_from(OPERATOR_VALUES[op]))
    if value and draw(st.booleans()):
        return f"{name} {op} {value}"  # bare, with spaces: the same matcher
    return f'{name}{op}"{value}"'


any_criteria = st.one_of(criteria, st.lists(matcher_texts(), max_size=4))
fan_out_specs = st.lists(st.tuples(st.integers(-3, 3), any_criteria, st.booleans()), max_size=25)


@settings(max_examples=300, deadline=None)
@given(specs=rule_specs, labels=st.dictionaries(label_names, label_values, max_size=6))
def test_index_agrees_with_the_reference(specs, labels):
    compiled = [compile_rule(i, p, f"rule-{i:02d}", c) for i, (p, c) in enumerate(specs)]
    expected = reference_match(compiled, labels)
    got = RuleIndex.build(compiled).match(labels)
    assert (got and got.id) == (expected and expected.id)


@settings(max_examples=500, deadline=None)
@given(specs=fan_out_specs, labels=st.dictionaries(label_names, label_values, max_size=6))
def test_index_fan_out_agrees_with_select_rules_on_both_forms(specs, labels):
    names = [f"rule-{i:02d}" for i in range(len(specs))]
    plain = [
        PlainRule.from_criteria(name, p, c, continue_matching=cont)
        for name, (p, c, cont) in zip(names, specs)
    ]
    compiled = [
        compile_rule(i, p, name, c, continue_matching=cont)
        for i, (name, (p, c, cont)) in enumerate(zip(names, specs))
    ]
    index = RuleIndex.build(compiled)
    expected = [rule.name for rule in select_rules(plain, labels)]
    event(f"{min(len(expected), 3)} rule(s) get the alert")
    assert [rule.name for rule in index.select(labels)] == expected
    first = index.match(labels)
    assert (first and first.name) == (expected[0] if expected else None)
    matching = sorted((r for r in compiled if r.matches(labels)), key=lambda r: r.sort_key)
    assert index.candidates(labels) == matching


@pytest.mark.django_db
class TestMatcherService:
    def test_finds_the_best_active_rule(self):
        RuleFactory(name="low", priority=1, match_criteria={"severity": "critical"})
        RuleFactory(name="high", priority=9, match_criteria={"severity": "critical"})
        RuleFactory(name="off", priority=99, is_active=False, match_criteria={})
        rule = SlackRuleMatcherService().find_matching_rule({"severity": "critical"})
        assert isinstance(rule, SlackIntegrationRule)
        assert rule.name == "high"

    def test_none_when_nothing_matches(self):
        RuleFactory(match_criteria={"team": "db"})
        assert SlackRuleMatcherService().find_matching_rule({"team": "web"}) is None
        assert SlackRuleMatcherService().find_matching_rule(None) is None

    def test_edits_are_seen_by_the_next_match(self):
        service = SlackRuleMatcherService()
        rule = RuleFactory(name="r", match_criteria={"team": "db"})
        assert service.find_matching_rule({"team": "db"}) == rule
        rule.match_criteria = {"team": "web"}
        rule.save()
        assert service.find_matching_rule({"team": "db"}) is None
        SlackIntegrationRule.objects.filter(pk=rule.pk).update(is_active=False)
        assert service.find_matching_rule({"team": "web"}) is None
        SlackIntegrationRule.objects.update(is_active=True)
        assert service.find_matching_rule({"team": "web"}) == rule
        rule.delete()
        assert service.find_matching_rule({"team": "web"}) is None
        SlackIntegrationRule.objects.bulk_create(
            [SlackIntegrationRule(name="bulk", match_criteria={}, message_template="x")]
        )
        assert service.find_matching_rule({"team": "web"}).name == "bulk"

    def test_index_is_not_rebuilt_while_rules_are_unchanged(self, django_assert_num_queries):
        RuleFactory(match_criteria={"team": "db"})
        service = SlackRuleMatcherService()
        service.find_matching_rule({"team": "db"})
        # One query for the rule-set version; the rule comes from the index.
        with django_assert_num_queries(1):
            service.find_matching_rule({"team": "db"})
        with django_assert_num_queries(1):
            service.find_matching_rule({"team": "none"})

    def test_find_matching_rules_fans_out_and_find_matching_rule_is_its_first(self):
        RuleFactory(
            name="pager",
            priority=300,
            match_criteria=['severity=~"critical|page"'],
            continue_matching=True,
        )
        RuleFactory(name="db", priority=200, match_criteria={"team": "db"}, continue_matching=True)
        RuleFactory(name="all", priority=0, match_criteria=[])
        RuleFactory(name="off", priority=100, match_criteria=[], is_active=False)
        service = SlackRuleMatcherService()
        found = service.find_matching_rules({"severity": "page", "team": "db"})
        assert [r.name for r in found] == ["pager", "db", "all"]
        assert all(isinstance(r, SlackIntegrationRule) for r in found)
        assert service.find_matching_rule({"severity": "page"}).name == "pager"
        assert [r.name for r in service.find_matching_rules({"team": "web"})] == ["all"]
        SlackIntegrationRule.objects.all().delete()
        assert service.find_matching_rules({"team": "web"}) == []
        assert service.find_matching_rule({"team": "web"}) is None

    def test_a_fan_out_costs_one_query_too(self, django_assert_num_queries):
        RuleFactory(name="a", priority=2, match_criteria=['team=~"db|web"'], continue_matching=True)
        RuleFactory(name="b", priority=1, match_criteria={"team": "db"})
        service = SlackRuleMatcherService()
        service.find_matching_rules({"team": "db"})
        with django_assert_num_queries(1):
            assert len(service.find_matching_rules({"team": "db"})) == 2

    def test_a_rule_with_criteria_that_no_longer_parse_is_left_out_and_logged(self, caplog):
        RuleFactory(name="good", priority=1, match_criteria={"team": "db"})
        bad = RuleFactory(name="bad", priority=9, match_criteria={})
        # Written around validation (update() does not validate).
        SlackIntegrationRule.objects.filter(pk=bad.pk).update(match_criteria=["team db"])
        with caplog.at_level(logging.ERROR, "django_slack_rules"):
            assert SlackRuleMatcherService().find_matching_rule({"team": "db"}).name == "good"
        assert "Slack rule 'bad' is left out of matching" in caplog.text
        assert SlackRuleMatcherService().get_index().skipped[0][0] == "bad"

    def test_a_legacy_value_that_is_not_a_string_still_matches_and_is_logged(self, caplog):
        rule = RuleFactory(name="code", match_criteria={})
        SlackIntegrationRule.objects.filter(pk=rule.pk).update(match_criteria={"code": 500})
        with caplog.at_level(logging.WARNING, "django_slack_rules"):
            assert SlackRuleMatcherService().find_matching_rule({"code": "500"}) == rule
        assert "values that are not strings (code)" in caplog.text

    def test_build_index_parses_each_matcher_text_once(self):
        rules = [
            RuleFactory(name=f"r{i}", match_criteria=[f'team="t{i}"', 'job=~"node-.*"'])
            for i in range(3)
        ]
        index = build_index(rules)
        regexes = {id(rule.matchers[1]) for bucket in index.buckets.values() for _, rule in bucket}
        assert len(regexes) == 1

    def test_explain_lists_every_matching_rule_in_order(self):
        RuleFactory(name="all", priority=0, match_criteria={})
        RuleFactory(name="db", priority=5, match_criteria={"team": "db"})
        assert [r.name for r in SlackRuleMatcherService().explain({"team": "db"})] == ["db", "all"]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_never_leaves_a_stale_index():
    service = SlackRuleMatcherService()
    with pytest.raises(RuntimeError), transaction.atomic():
        RuleFactory(name="temp", match_criteria={"team": "db"})
        assert service.find_matching_rule({"team": "db"}).name == "temp"
        raise RuntimeError("rolled back")
    RuleFactory(name="other", match_criteria={"team": "web"})
    assert service.find_matching_rule({"team": "db"}) is None
    assert service.find_matching_rule({"team": "web"}).name == "other"


@pytest.mark.django_db
def test_the_returned_rule_is_a_copy_callers_may_change():
    RuleFactory(name="r", slack_channel="#a", match_criteria={})
    service = SlackRuleMatcherService()
    first = service.find_matching_rule({})
    first.slack_channel = "#changed"
    assert service.find_matching_rule({}).slack_channel == "#a"
