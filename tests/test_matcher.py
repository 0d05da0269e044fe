"""Matching: the pure index (checked against a plain reference) and the service."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from django_slack_rules.matching import RuleIndex, compile_rule, reference_match
from django_slack_rules.models import SlackIntegrationRule
from django_slack_rules.services.slack_matcher import SlackRuleMatcherService
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


label_names = st.sampled_from(["alertname", "severity", "team", "env", "job", "instance"])
label_values = st.sampled_from(["a", "b", "c", "critical", ""])
criteria = st.dictionaries(label_names, label_values, max_size=3)
rule_specs = st.lists(st.tuples(st.integers(-3, 3), criteria), max_size=25)


@settings(max_examples=300, deadline=None)
@given(specs=rule_specs, labels=st.dictionaries(label_names, label_values, max_size=6))
def test_index_agrees_with_the_reference(specs, labels):
    compiled = [compile_rule(i, p, f"rule-{i:02d}", c) for i, (p, c) in enumerate(specs)]
    expected = reference_match(compiled, labels)
    got = RuleIndex.build(compiled).match(labels)
    assert (got and got.id) == (expected and expected.id)


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
