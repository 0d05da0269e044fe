"""slack_rules_import: SentryHub's in-tree Slack rules (``integrations.SlackIntegrationRule``)
become the package's rules, all or nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_slack_rules.contrib.sentryhub.rules_import import (
    can_both_match,
    convert_criteria,
)
from django_slack_rules.models import SlackIntegrationRule as Rule
from tests.alerts.models import AlertGroup
from tests.alerts.signals import alert_processed
from tests.factories import AlertInstanceFactory, RuleFactory
from tests.legacy_integrations.models import SlackIntegrationRule as OldRule
from tests.utils import call, fire

MODEL = "integrations.SlackIntegrationRule"


def run(*args: str) -> str:
    """The import, applied (``--apply``) unless the test asks for a ``--dry-run``."""
    apply = () if "--dry-run" in args else ("--apply",)
    return call("slack_rules_import", MODEL, *args, *apply)


def old_rule(name: str, criteria: object = None, **fields) -> OldRule:
    fields.setdefault("message_template", "{{ alertname }} fires")
    return OldRule.objects.create(
        name=name, match_criteria={} if criteria is None else criteria, **fields
    )


def ranked() -> list[tuple[str, int]]:
    return list(Rule.objects.values_list("name", "priority"))  # Meta.ordering: the rank


# The pure parts


def test_convert_criteria_strips_labels_prefix_and_stringifies_values():
    criteria, errors, notes = convert_criteria(
        {"labels__severity": "critical", "labels__port": 9100, "team": "db", "labels__up": True}
    )
    assert criteria == {"severity": "critical", "port": "9100", "team": "db", "up": "True"}
    assert (errors, notes) == ([], [])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["labels__team"], "is a list, not an object"),
        ({"labels__team": {"in": ["a", "b"]}}, "must be one string"),
        ({"labels__team": ["a"]}, "must be one string"),
        ({"labels__team": None}, "must be one string"),
        ({"labels__team": "a", "team": "b"}, "names the label 'team' twice"),
        ({"labels__": "x"}, "names no label"),
    ],
)
def test_convert_criteria_reports_what_cannot_be_a_label_match(value, expected):
    _, errors, _ = convert_criteria(value)
    assert len(errors) == 1
    assert expected in errors[0]


def test_convert_criteria_notes_a_key_that_looks_like_a_lookup():
    criteria, errors, notes = convert_criteria({"labels__team__icontains": "db"})
    assert criteria == {"team__icontains": "db"}
    assert errors == []
    assert "looks like a Django lookup" in notes[0]


def test_can_both_match():
    assert can_both_match({"severity": "critical"}, {"team": "db"})
    assert can_both_match({}, {"team": "db"})
    assert can_both_match({"team": "db", "env": "prod"}, {"team": "db"})
    assert not can_both_match({"team": "db"}, {"team": "web"})


# The command


@pytest.mark.django_db
def test_imports_rules_with_plain_label_keys_and_string_values():
    old_rule(
        "db-critical",
        {"labels__severity": "critical", "labels__team": "db", "labels__port": 5432},
        slack_channel="#db",
        message_template="{{ alertname }} on {{ instance }}",
        resolved_message_template="{{ alertname }} resolved",
        priority=7,
    )
    old_rule("everything", is_active=False)

    out = run()

    rule = Rule.objects.get(name="db-critical")
    assert rule.match_criteria == {"severity": "critical", "team": "db", "port": "5432"}
    # By default ranked as SentryHub ranks: 3 criteria * 100 + the old priority.
    assert (rule.slack_channel, rule.priority, rule.is_active) == ("#db", 307, True)
    assert rule.message_template == "{{ alertname }} on {{ instance }}"
    assert rule.resolved_message_template == "{{ alertname }} resolved"
    everything = Rule.objects.get(name="everything")
    assert (everything.match_criteria, everything.is_active) == ({}, False)
    assert "2 rule(s) created, 0 updated, 0 skipped" in out
    assert "still active" in out  # both integrations would post


@pytest.mark.django_db
def test_an_empty_resolved_template_becomes_the_firing_one_as_sentryhub_sends_it(
    outbox, eager, django_capture_on_commit_callbacks
):
    old_rule("db", {"labels__team": "db"}, message_template="{{ alertname }} on {{ instance }}")

    out = run("--deactivate-source")

    assert "note: its resolved template is empty, so SentryHub sends the firing template" in out
    rule = Rule.objects.get(name="db")
    assert rule.resolved_message_template == rule.message_template
    instance = AlertInstanceFactory(
        alert_group__labels={"alertname": "DiskFull", "team": "db"},
        alert_group__instance="db-1",
        status="resolved",
    )
    with django_capture_on_commit_callbacks(execute=True):
        fire(instance.alert_group, instance, status="resolved")
    assert [m.text for m in outbox] == ["DiskFull on db-1"]  # posted on resolve, as before


@pytest.mark.django_db
def test_empty_channel_is_kept_so_the_rule_falls_back_to_the_label_or_default(settings):
    old_rule("no-channel", {"labels__team": "db"}, slack_channel="")
    out = run()
    rule = Rule.objects.get(name="no-channel")
    assert rule.slack_channel == ""
    assert rule.resolve_channel({"channel": "db-alerts"}, default="#alerts") == "#db-alerts"
    assert "(label 'channel', else #alerts)" in out


@pytest.mark.django_db
def test_keep_copies_priorities_and_ranks_by_priority_then_name():
    old_rule("a-critical", {"labels__severity": "critical"}, priority=10)
    old_rule("b-db-critical", {"labels__severity": "critical", "labels__team": "db"}, priority=5)
    old_rule("c-catch-all", {}, priority=0)

    out = run("--priority", "keep")

    assert ranked() == [("a-critical", 10), ("b-db-critical", 5), ("c-catch-all", 0)]
    table = out[out.index("The rules in the order") :]
    assert table.index("a-critical") < table.index("b-db-critical") < table.index("c-catch-all")


@pytest.mark.django_db
def test_specificity_ranks_more_criteria_first_and_the_old_priority_breaks_ties():
    old_rule("a-critical", {"labels__severity": "critical"}, priority=10)
    old_rule("b-db-critical", {"labels__severity": "critical", "labels__team": "db"}, priority=5)
    old_rule("c-web", {"labels__team": "web"}, priority=20)
    old_rule("d-catch-all", {}, priority=3)

    run("--priority", "specificity")

    assert ranked() == [
        ("b-db-critical", 205),
        ("c-web", 120),
        ("a-critical", 110),
        ("d-catch-all", 3),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mode", "now", "before"),
    [("keep", "a-critical", "b-db-critical"), ("specificity", "b-db-critical", "a-critical")],
)
def test_warns_about_rules_whose_winner_depends_on_the_ranking(mode, now, before):
    old_rule("a-critical", {"labels__severity": "critical"}, priority=10)
    old_rule("b-db-critical", {"labels__severity": "critical", "labels__team": "db"}, priority=5)
    # Cannot match one alert with b-db-critical (team differs); outranks a-critical both ways.
    old_rule("c-web-critical", {"labels__severity": "critical", "labels__team": "web"}, priority=50)
    old_rule("d-off", {}, priority=99, is_active=False)  # inactive: never wins

    out = run("--priority", mode)

    assert "WARNING: 1 pair(s) of active rules" in out
    assert "/slack/match/, URL name django_slack_rules:rule-match" in out
    ranking = "by priority then name" if mode == "specificity" else "by specificity"
    assert (
        f"{now!r} now wins over {before!r}, e.g. for labels "
        f'{{"severity": "critical", "team": "db"}} ({before!r} wins {ranking}' in out
    )
    assert "c-web-critical" not in out.split("WARNING")[1]
    assert "d-off" not in out.split("WARNING")[1]


@pytest.mark.django_db
def test_a_rerun_warns_by_the_priorities_the_package_has():
    old_rule("a-critical", {"labels__severity": "critical"}, priority=10)
    old_rule("b-db-critical", {"labels__severity": "critical", "labels__team": "db"}, priority=5)
    run("--priority", "specificity")

    # The release step: the rules are skipped (already imported), the old ones switched off.
    out = run("--deactivate-source")

    assert ranked() == [("b-db-critical", 205), ("a-critical", 110)]
    warning = out.split("WARNING")[1]
    assert "'b-db-critical' now wins over 'a-critical'" in warning
    assert "'a-critical' wins by priority then name" in warning
    assert "'a-critical' now wins" not in warning


@pytest.mark.django_db
def test_no_warning_when_both_rankings_agree():
    old_rule("a-db-critical", {"labels__severity": "critical", "labels__team": "db"}, priority=5)
    old_rule("b-critical", {"labels__severity": "critical"}, priority=1)
    old_rule("c-web", {"labels__team": "web"}, priority=1)
    assert "WARNING" not in run()


@pytest.mark.django_db
def test_a_bad_template_saves_nothing_and_names_the_rule_and_field():
    old_rule("good", {"labels__team": "db"})
    old_rule("broken", {"labels__team": "web"}, message_template="{% if %}")
    old_rule("bad-channel", {}, slack_channel="Not A Channel")

    with pytest.raises(CommandError) as caught:
        run("--deactivate-source")

    message = str(caught.value)
    assert "2 of 3 rule(s) of integrations.SlackIntegrationRule cannot be imported" in message
    assert "nothing was saved" in message
    assert "'broken': message_template: The template does not compile" in message
    assert "'bad-channel': slack_channel: 'Not A Channel' is not a Slack channel" in message
    assert "good" not in message
    assert not Rule.objects.exists()
    assert OldRule.objects.filter(is_active=True).count() == 3  # the source is untouched


@pytest.mark.django_db
def test_nested_criteria_are_an_error_and_the_other_fields_are_still_checked():
    old_rule("nested", {"labels__team": {"in": ["db", "web"]}}, message_template="{% if %}")
    old_rule("fine", {"labels__team": "db"})
    with pytest.raises(CommandError) as caught:
        run()
    message = str(caught.value)
    assert '\'nested\': match_criteria[\'labels__team\'] is {"in": ["db", "web"]}' in message
    assert "'nested': message_template: The template does not compile" in message
    assert not Rule.objects.exists()


@pytest.mark.django_db
def test_existing_rule_is_skipped_and_left_alone():
    RuleFactory(name="db", match_criteria={"team": "db"}, slack_channel="#mine", priority=1)
    old_rule("db", {"labels__team": "database"}, slack_channel="#old", priority=9)
    old_rule("web", {"labels__team": "web"})

    out = run()

    assert "skip   'db': a rule of that name is already in the package" in out
    assert "1 rule(s) created, 0 updated, 1 skipped" in out
    db = Rule.objects.get(name="db")
    assert (db.match_criteria, db.slack_channel, db.priority) == ({"team": "db"}, "#mine", 1)
    assert Rule.objects.filter(name="web").exists()
    # Run again: idempotent.
    assert "0 rule(s) created, 0 updated, 2 skipped" in run()
    assert Rule.objects.count() == 2


@pytest.mark.django_db
def test_update_overwrites_the_rule_but_not_its_active_switch():
    RuleFactory(name="db", match_criteria={"team": "db"}, slack_channel="#mine", is_active=False)
    old_rule("db", {"labels__team": "database"}, slack_channel="#old", priority=9)

    out = run("--update")

    assert "update 'db'" in out
    assert "0 rule(s) created, 1 updated, 0 skipped" in out
    db = Rule.objects.get(name="db")
    assert (db.match_criteria, db.slack_channel, db.priority) == ({"team": "database"}, "#old", 109)
    assert db.is_active is False
    assert Rule.objects.count() == 1


@pytest.mark.django_db
def test_dry_run_validates_and_saves_nothing():
    old_rule("db", {"labels__team": "db"}, priority=3)

    out = run("--dry-run", "--deactivate-source")

    assert "Dry run: every rule is valid. 1 rule(s) would be created" in out
    assert "Nothing was saved." in out
    assert "Would deactivate 1 active rule(s) of integrations.SlackIntegrationRule" in out
    assert "db" in out[out.index("The rules in the order") :]
    assert not Rule.objects.exists()
    assert OldRule.objects.get().is_active is True


@pytest.mark.django_db
def test_without_apply_it_is_a_dry_run_as_with_alertmanager():
    """Both sources share one default: print the plan, save nothing, until --apply."""
    old_rule("db", {"labels__team": "db"}, priority=3)

    out = call("slack_rules_import", MODEL, "--deactivate-source")

    assert "Dry run: every rule is valid. 1 rule(s) would be created" in out
    assert "Nothing was saved. Run again with --apply" in out
    assert not Rule.objects.exists()
    assert OldRule.objects.get().is_active is True
    assert out == call("slack_rules_import", MODEL, "--deactivate-source", "--dry-run")


@pytest.mark.django_db
def test_dry_run_still_reports_errors():
    old_rule("broken", {}, message_template="{% for %}")
    with pytest.raises(CommandError, match="'broken': message_template"):
        run("--dry-run")


@pytest.mark.django_db
def test_deactivate_source_switches_the_old_rules_off():
    old_rule("db", {"labels__team": "db"})
    old_rule("web", {"labels__team": "web"})
    old_rule("off", {}, is_active=False)

    out = run("--deactivate-source")

    assert "Deactivated 2 rule(s) of integrations.SlackIntegrationRule" in out
    assert "still active" not in out
    assert not OldRule.objects.filter(is_active=True).exists()
    assert set(Rule.objects.filter(is_active=True).values_list("name", flat=True)) == {
        "db",
        "web",
    }


@pytest.mark.django_db
def test_deactivate_source_includes_rules_skipped_as_already_imported():
    old_rule("db", {"labels__team": "db"})
    run()  # imported before, old rule left on
    out = run("--deactivate-source")
    assert "0 rule(s) created, 0 updated, 1 skipped" in out
    assert OldRule.objects.get().is_active is False


@pytest.mark.django_db
def test_no_source_rules():
    assert "No rules in integrations.SlackIntegrationRule: nothing to import." in run()


@pytest.mark.parametrize(
    "label", ["integrations.NoSuchRule", "nosuchapp.SlackIntegrationRule", "no-dot"]
)
def test_wrong_model_label_is_a_command_error(label):
    with pytest.raises(CommandError, match="is not an installed model") as caught:
        call_command("slack_rules_import", label, stdout=StringIO())
    assert MODEL in str(caught.value)  # the fix: SentryHub's model


def test_the_package_own_model_is_refused():
    with pytest.raises(CommandError, match="this package's own rule model"):
        call_command("slack_rules_import", "django_slack_rules.SlackIntegrationRule")


def test_deactivate_source_needs_an_is_active_field():
    with pytest.raises(CommandError, match="has no is_active field"):
        call_command("slack_rules_import", "alerts.AlertGroup", "--deactivate-source")


@pytest.mark.django_db
def test_after_import_and_deactivation_an_alert_is_posted_once_by_the_package(
    outbox, eager, django_capture_on_commit_callbacks
):
    old_rule(
        "db",
        {"labels__team": "db"},
        slack_channel="#db",
        message_template="{{ alertname }}: {{ summary }}",
    )
    run("--deactivate-source")
    instance = AlertInstanceFactory(
        alert_group__labels={"alertname": "DiskFull", "team": "db"},
        annotations={"summary": "95% used"},
    )

    with django_capture_on_commit_callbacks(execute=True):
        alert_processed.send(
            sender=AlertGroup,
            alert_group=instance.alert_group,
            instance=instance,
            status="firing",
        )

    assert [(m.channel, m.text) for m in outbox] == [("#db", "DiskFull: 95% used")]
    # The old integration's matcher only considers active rules: it finds none.
    assert not OldRule.objects.filter(is_active=True).exists()
