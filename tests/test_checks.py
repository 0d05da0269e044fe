"""System checks: each misconfiguration is reported with its id and a hint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_slack_rules.checks import check_endpoint_is_set, check_settings


def ids():
    return [m.id for m in check_settings()]


@pytest.fixture
def rules(settings):
    def set_rules(**changes):
        settings.SLACK_RULES = {**settings.SLACK_RULES, **changes}

    return set_rules


def test_the_test_settings_are_clean():
    assert check_settings() == []


def test_signal_that_does_not_import(rules):
    rules(SIGNAL="tests.alerts.signals.nope")
    [message] = check_settings()
    assert message.id == "django_slack_rules.E001"
    assert "tests.alerts.signals.nope" in message.msg
    assert "alerts.signals.alert_processed" in message.hint


def test_signal_that_is_not_a_signal(rules):
    rules(SIGNAL="tests.alerts.models.AlertGroup")
    assert ids() == ["django_slack_rules.E001"]


def test_unknown_model(rules):
    rules(ALERT_MODEL="alerts.Nope")
    assert ids() == ["django_slack_rules.E002"]
    rules(ALERT_MODEL="not-a-model-path")
    assert ids() == ["django_slack_rules.E002"]


def test_signal_without_model(rules):
    rules(ALERT_MODEL=None)
    assert ids() == ["django_slack_rules.E009"]


def test_bad_adapter_and_backend(rules):
    rules(ADAPTER="tests.nowhere.Adapter", BACKEND="django_slack_rules.backends.nope")
    assert ids() == ["django_slack_rules.E003", "django_slack_rules.E004"]
    rules(ADAPTER="django_slack_rules.adapters.AlertGroupAdapter", BACKEND="django.conf.settings")
    assert ids() == ["django_slack_rules.E004"]


@pytest.mark.parametrize("endpoint", ["ftp://proxy/slack", "proxy/slack", "http://"])
def test_endpoint_not_http(settings, endpoint):
    settings.SLACK_INTERNAL_ENDPOINT = endpoint
    [message] = check_settings()
    assert message.id == "django_slack_rules.E005"
    # The cause in the message, the fix in the hint: said once each.
    assert "http://10.0.0.5/slack-proxy/" not in message.msg
    assert "http://10.0.0.5/slack-proxy/" in message.hint


def test_an_unset_endpoint_stops_a_deployment_not_migrate_or_test(settings, monkeypatch, db):
    """README's snippet reads the variable with "" as its default: without the variable,
    migrate, test and runserver (which run the start-up checks) must work; check --deploy
    says what is missing."""
    monkeypatch.delenv("SLACK_INTERNAL_ENDPOINT", raising=False)
    settings.SLACK_INTERNAL_ENDPOINT = ""
    assert ids() == []
    call_command("check")
    call_command("migrate", "--check", verbosity=0)
    with pytest.raises(SystemCheckError, match=r"django_slack_rules\.E006") as stopped:
        call_command("check", deploy=True)
    assert "SLACK_INTERNAL_ENDPOINT is empty" in str(stopped.value)
    assert "http://10.0.0.5/slack-proxy/" in str(stopped.value)
    settings.SLACK_INTERNAL_ENDPOINT = "http://10.0.0.5/slack-proxy/"
    assert check_endpoint_is_set() == []


def test_a_message_sent_without_an_endpoint_is_recorded_as_failed_naming_the_setting(
    settings, monkeypatch, eager, db, django_capture_on_commit_callbacks
):
    from django_slack_rules.models import SlackDelivery
    from tests.factories import AlertInstanceFactory, RuleFactory
    from tests.utils import fire

    monkeypatch.delenv("SLACK_INTERNAL_ENDPOINT", raising=False)
    settings.SLACK_INTERNAL_ENDPOINT = ""
    RuleFactory(match_criteria={}, slack_channel="#alerts")
    instance = AlertInstanceFactory()
    with django_capture_on_commit_callbacks(execute=True):
        fire(instance.alert_group, instance)
    [delivery] = SlackDelivery.objects.all()
    assert delivery.state == "failed"
    assert "SLACK_INTERNAL_ENDPOINT is not set" in delivery.last_error


def test_endpoint_read_from_the_environment(settings, monkeypatch):
    del settings.SLACK_INTERNAL_ENDPOINT
    monkeypatch.setenv("SLACK_INTERNAL_ENDPOINT", "http://10.0.0.5/slack-proxy/")
    assert ids() == []
    monkeypatch.setenv("SLACK_INTERNAL_ENDPOINT", "not a url")
    assert ids() == ["django_slack_rules.E005"]


def test_endpoint_pointing_at_slack_itself(settings):
    settings.SLACK_INTERNAL_ENDPOINT = "https://hooks.slack.com/services/XXX"
    assert ids() == ["django_slack_rules.W003"]


def test_slack_rules_not_a_dict(settings):
    settings.SLACK_RULES = ["SIGNAL"]
    assert ids() == ["django_slack_rules.E007"]


def test_unknown_key(rules):
    rules(CHANNEL="#x")
    [message] = check_settings()
    assert message.id == "django_slack_rules.W002"
    assert "CHANNEL" in message.msg


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MESSAGE_MAX_LENGTH", 50_000),
        ("MESSAGE_MAX_LENGTH", "4000"),
        ("MAX_ATTEMPTS", 0),
        ("READ_TIMEOUT", -1),
        ("RETRY_BACKOFF_MAX", True),
        ("CHANNEL_RATE", 0),
        ("CHANNEL_RATE", "1/s"),
        ("CHANNEL_BURST", 0),
        ("CHANNEL_BURST", 2.5),
        ("CHANNEL_BURST", None),
        ("DIGEST_AFTER", 0),
    ],
)
def test_numbers_out_of_range(rules, key, value):
    rules(**{key: value})
    [message] = check_settings()
    assert message.id == "django_slack_rules.E008"
    assert key in message.msg


def test_pacing_and_digests_can_be_switched_off(rules):
    rules(CHANNEL_RATE=None, DIGEST_AFTER=None)
    assert check_settings() == []
    rules(CHANNEL_RATE=0.5, CHANNEL_BURST=1, DIGEST_AFTER=1)
    assert check_settings() == []


@pytest.mark.parametrize(
    "value", ["alerts.example.com", "https://", "ftp://x", "https://x/?a=1", 1]
)
def test_site_url_that_is_not_an_address(rules, value):
    rules(SITE_URL=value)
    [message] = check_settings()
    assert message.id == "django_slack_rules.E012"
    assert "https://alerts.example.com" in message.hint


@pytest.mark.parametrize("value", ["https://alerts.example.com", "http://10.0.0.5:8000/sentryhub/"])
def test_site_url(rules, value):
    rules(SITE_URL=value)
    assert check_settings() == []


def test_default_channel(rules):
    rules(DEFAULT_CHANNEL="alerts")
    assert ids() == ["django_slack_rules.E010"]


@pytest.mark.parametrize(
    "backend",
    ["django_slack_rules.backends.LocmemBackend", "django_slack_rules.backends.ConsoleBackend"],
)
def test_test_backends_while_debug_is_off(rules, settings, backend):
    rules(BACKEND=backend)
    assert ids() == ["django_slack_rules.W001"]
    settings.DEBUG = True
    assert ids() == []


def test_manage_py_check_fails_on_errors(rules, db):
    rules(SIGNAL="tests.alerts.signals.nope")
    with pytest.raises(SystemCheckError, match=r"django_slack_rules\.E001"):
        call_command("check")


@pytest.mark.django_db
def test_an_unscheduled_recovery_task_is_a_warning(settings, rules):
    from django_slack_rules.checks import check_recovery_scheduled

    def check():
        return check_recovery_scheduled(databases=["default"])

    assert check() == []  # the test settings schedule it
    settings.CELERY_BEAT_SCHEDULE = {}
    [message] = check()
    assert message.id == "django_slack_rules.W010"
    assert "django_slack_rules.tasks.recover_stranded is not scheduled" in message.msg
    assert "CELERY_BEAT_SCHEDULE" in message.hint
    rules(SIGNAL=None)  # not wired to the host: nothing to recover
    assert check() == []


@pytest.mark.sentryhub
@pytest.mark.django_db
def test_a_django_celery_beat_periodic_task_schedules_the_recovery(settings):
    """SentryHub schedules with django-celery-beat: the periodic tasks are in its database."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from django_slack_rules.checks import check_recovery_scheduled

    settings.CELERY_BEAT_SCHEDULE = {}
    assert check_recovery_scheduled() == []  # without a database: said when one is checked
    [message] = check_recovery_scheduled(databases=["default"])
    assert message.id == "django_slack_rules.W010"
    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="Slack rules recovery",
        task="django_slack_rules.tasks.recover_stranded",
        interval=every_minute,
    )
    assert check_recovery_scheduled(databases=["default"]) == []


# ---------------------------------------------------------------- no or broken URLconf


def test_settings_without_root_urlconf_are_checked_without_a_traceback(settings):
    """A worker's settings often have no ROOT_URLCONF: no pages, nothing to report."""
    del settings.ROOT_URLCONF
    assert check_settings() == []


def test_a_urlconf_that_does_not_import_is_reported_not_raised(settings):
    settings.ROOT_URLCONF = "tests.no_such_urlconf"
    [message] = check_settings()
    assert message.id == "django_slack_rules.W006"
    assert "tests.no_such_urlconf" in message.msg
    assert "ModuleNotFoundError" in message.msg
    assert message.hint


def test_manage_py_check_runs_with_settings_without_root_urlconf(tmp_path):
    """Every management command runs the checks first: a missing ROOT_URLCONF must not
    turn each of them into a traceback (as it did when the check called reverse())."""
    (tmp_path / "worker_settings.py").write_text(
        "from tests.settings import *  # noqa: F403\n\ndel ROOT_URLCONF\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)])}
    env["DJANGO_SETTINGS_MODULE"] = "worker_settings"
    done = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout
