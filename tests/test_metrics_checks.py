"""The metrics checks: E013 (the values), E014 (the token file), W007 (nobody can scrape)."""

from __future__ import annotations

import pytest

from django_slack_rules.checks import check_settings


def messages():
    return [(m.id, m.msg, m.hint) for m in check_settings()]


@pytest.mark.parametrize(
    ("metrics", "named"),
    [
        ("on", "a str, not a dict"),
        ({"ENABLE": True}, "unknown key 'ENABLE'"),
        ({"ENABLED": "yes"}, "ENABLED must be True or False"),
        ({"TOKEN_FILE": 3}, "TOKEN_FILE must be the path of a file"),
        ({"ALLOW": "127.0.0.1"}, "ALLOW must be a list"),
        ({"ALLOW": ["127.0.0.1", "prometheus.local"]}, "'prometheus.local', which is not"),
        ({"MAX_LABEL_VALUES": 0}, "MAX_LABEL_VALUES must be an integer of at least 1"),
    ],
)
def test_metrics_that_are_not_valid(slack_rules, metrics, named):
    slack_rules(METRICS=metrics)
    [(code, msg, hint)] = messages()
    assert code == "django_slack_rules.E013"
    assert named in msg
    assert "TOKEN_FILE" in hint


def test_a_token_file_that_cannot_be_read_or_is_empty(slack_rules, tmp_path):
    missing = tmp_path / "nope"
    slack_rules(METRICS={"ENABLED": True, "TOKEN_FILE": str(missing)})
    [(code, msg, hint)] = messages()
    assert code == "django_slack_rules.E014"
    assert str(missing) in msg
    assert "readable" in hint
    missing.write_text("\n")
    [(code, msg, _)] = messages()
    assert (code, "it is empty" in msg) == ("django_slack_rules.E014", True)
    missing.write_text("a-token\n")
    assert messages() == []
    # Off: the file is not needed yet.
    missing.unlink()
    slack_rules(METRICS={"ENABLED": False, "TOKEN_FILE": str(missing)})
    assert messages() == []


def test_on_with_nobody_allowed_to_scrape(slack_rules, monkeypatch):
    monkeypatch.delenv("SLACK_RULES_METRICS_TOKEN", raising=False)
    slack_rules(METRICS={"ENABLED": True})
    [(code, msg, hint)] = messages()
    assert code == "django_slack_rules.W007"
    assert "refuses every scrape" in msg
    assert "SLACK_RULES_METRICS_TOKEN" in hint
    monkeypatch.setenv("SLACK_RULES_METRICS_TOKEN", "t")
    assert messages() == []
    monkeypatch.delenv("SLACK_RULES_METRICS_TOKEN")
    slack_rules(METRICS={"ENABLED": True, "ALLOW": ["10.0.0.0/8"]})
    assert messages() == []
