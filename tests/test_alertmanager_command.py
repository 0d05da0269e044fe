"""``manage.py slack_rules_import --alertmanager``: the plan printed, a dry run by default,
``--apply`` all or nothing; and the imported rules, matched by the package's own matcher
from the database, pick the Slack receivers ``amtool config routes test`` picks."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from django_slack_rules.contrib.alertmanager import plan_file
from django_slack_rules.models import SlackIntegrationRule as Rule
from django_slack_rules.services.slack_matcher import SlackRuleMatcherService
from tests.factories import RuleFactory
from tests.test_alertmanager_import import CONFIGS, HAND_PICKED, amtool_receivers, slack_receivers
from tests.utils import call

pytestmark = pytest.mark.django_db

NESTED = str(CONFIGS / "nested.yml")
SENTRYHUB = "integrations.SlackIntegrationRule"


def run(*args: str) -> str:
    return call("slack_rules_import", *args)


# -- the command line: one source, and only its options ---------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Nothing to import: give MODEL, the old rule model (for SentryHub: integrations."),
        ((SENTRYHUB, "--alertmanager", NESTED), "not both"),
        ((SENTRYHUB, "--lowest-priority", "5"), "--lowest-priority goes with --alertmanager"),
        ((SENTRYHUB, "--dry-run", "--apply"), "contradict each other"),
        ((SENTRYHUB, "--name-prefix", "am: "), "--name-prefix goes with --alertmanager"),
        (("--alertmanager", NESTED, "--priority", "keep"), "--priority goes with MODEL"),
        (("--alertmanager", NESTED, "--update", "--deactivate-source"), "--update, --deactivate"),
        (("--alertmanager", NESTED, "--dry-run", "--apply"), "contradict each other"),
    ],
)
def test_each_source_takes_only_its_own_options(args, message):
    with pytest.raises(CommandError) as info:
        run(*args)
    assert message in str(info.value)
    assert not Rule.objects.exists()


def test_the_sentryhub_import_still_takes_its_model():
    out = run(SENTRYHUB, "--dry-run")
    assert "No rules in integrations.SlackIntegrationRule: nothing to import." in out


# -- dry run, apply --------------------------------------------------------------------


def test_a_dry_run_prints_the_plan_and_its_report_and_saves_nothing():
    out = run("--alertmanager", NESTED)
    assert out.startswith(f"6 rule(s) from {NESTED}:")
    assert "slack-db-oncall [route.routes[0].routes[0]]" in out
    assert "Not imported (" in out  # the report: what the rules will not do
    assert "The rules route every label set to the Slack receivers Alertmanager does." in out
    assert f"Dry run: 6 rule(s) would be created from {NESTED}." in out
    assert "Nothing was saved. Run again with --apply" in out
    assert not Rule.objects.exists()
    assert run("--alertmanager", NESTED, "--dry-run") == out


def test_apply_creates_every_planned_rule():
    out = run(
        "--alertmanager", NESTED, "--apply", "--lowest-priority", "100", "--name-prefix", "am: "
    )
    assert f"Created 6 rule(s) from {NESTED}." in out
    plan = plan_file(NESTED, lowest_priority=100, name_prefix="am: ")
    stored = {rule.name: rule for rule in Rule.objects.all()}
    assert sorted(stored) == sorted(p.name for p in plan.rules)
    for planned in plan.rules:
        rule = stored[planned.name]
        assert rule.match_criteria == planned.match_criteria  # the list form
        assert (rule.priority, rule.continue_matching, rule.slack_channel) == (
            planned.priority,
            planned.continue_matching,
            planned.slack_channel,
        )
        rule.full_clean()
    assert min(rule.priority for rule in stored.values()) == 100


def test_apply_is_all_or_nothing():
    plan = plan_file(NESTED)
    RuleFactory(name=plan.rules[2].name, priority=1)
    with pytest.raises(CommandError) as info:
        run("--alertmanager", NESTED, "--apply")
    message = str(info.value)
    assert "1 planned rule(s) cannot be created, so nothing was saved:" in message
    assert f"{plan.rules[2].name!r}: a rule of that name is already in the package" in message
    assert "--name-prefix" in message
    assert Rule.objects.count() == 1


def test_rules_already_in_the_package_are_placed_in_the_report():
    RuleFactory(name="team web", priority=500, match_criteria={"team": "web"})
    RuleFactory(name="fallback", priority=0, match_criteria={})
    out = run("--alertmanager", NESTED)
    assert "WARNING: active rules already in the package rank among or above" in out
    assert "'team web' (500)" in out
    assert "1 active rule(s) already in the package rank below the imported ones" in out
    assert run("--alertmanager", NESTED, "--lowest-priority", "1000").count("WARNING") == 0


def test_a_configuration_error_names_the_place(tmp_path):
    bad = tmp_path / "alertmanager.yml"
    bad.write_text("route:\n  receiver: nowhere\nreceivers: []\n")
    with pytest.raises(CommandError, match="nowhere"):
        run("--alertmanager", str(bad))
    with pytest.raises(CommandError, match="cannot read"):
        run("--alertmanager", str(tmp_path / "missing.yml"))


def test_a_configuration_without_slack_says_so(tmp_path):
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: mail\nreceivers:\n  - name: mail\n"
        "    email_configs: [{to: ops@example.com, from: am@example.com, "
        "smarthost: 'mail.example.com:25'}]\n"
    )
    out = run("--alertmanager", str(config), "--apply")
    assert "nothing to do" in out
    assert not Rule.objects.exists()


# -- the imported rules, matched from the database, against amtool -----------------------


def receivers_of(rules, by_name) -> list[str]:
    """The Slack receivers the rules that get an alert came from, one per route, in order."""
    receivers, last_route = [], None
    for rule in rules:
        planned = by_name[rule.name]
        if planned.route != last_route:
            receivers.append(planned.receiver)
            last_route = planned.route
    return receivers


@pytest.mark.parametrize("config", ["nested.yml", "continue.yml", "absorb.yml"])
def test_imported_rules_route_as_alertmanager_does(config):
    path = CONFIGS / config
    run("--alertmanager", str(path), "--apply")
    by_name = {planned.name: planned for planned in plan_file(path).rules}
    slack = slack_receivers(path)
    matcher = SlackRuleMatcherService()
    for labels in HAND_PICKED[config]:
        expected = [r for r in amtool_receivers(path, labels) if r in slack]
        assert receivers_of(matcher.find_matching_rules(labels), by_name) == expected, labels
