from __future__ import annotations

from collections.abc import Iterator

import pytest

from django_slack_rules.backends import locmem
from tests.fake_slack import FakeSlack


@pytest.fixture(autouse=True)
def _forget_channel_ids():
    """Each test starts without the channel ids an earlier test's Slack answered."""
    from django_slack_rules.services import pacing

    pacing.channel_ids.forget()
    yield
    pacing.channel_ids.forget()


@pytest.fixture
def rule():
    """The rule for the web team's alerts, with a firing and a resolved template."""
    from tests.factories import RuleFactory

    return RuleFactory(
        name="web",
        match_criteria={"team": "web"},
        slack_channel="#web",
        message_template="{{ alertname }}: {{ summary }}",
        resolved_message_template="{{ alertname }} resolved",
    )


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A fake Slack on 127.0.0.1 that records what it receives and answers on cue."""
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def slack_endpoint(settings, fake_slack: FakeSlack) -> FakeSlack:
    """Point SLACK_INTERNAL_ENDPOINT at the fake Slack (as the proxy would be)."""
    settings.SLACK_INTERNAL_ENDPOINT = f"{fake_slack.url}/slack-proxy/"
    return fake_slack


@pytest.fixture
def slack_rules(settings):
    """Change SLACK_RULES keys for one test: ``slack_rules(BACKEND=...)``."""

    def update(**changes):
        settings.SLACK_RULES = {**settings.SLACK_RULES, **changes}
        return settings.SLACK_RULES

    return update


@pytest.fixture
def outbox(slack_rules) -> Iterator[list]:
    """Use the locmem backend and return its outbox."""
    slack_rules(BACKEND="django_slack_rules.backends.LocmemBackend")
    locmem.outbox.clear()
    yield locmem.outbox
    locmem.outbox.clear()


@pytest.fixture
def eager():
    """Run Celery tasks in-process (apply_async runs the task at once, retries included)."""
    from tests.celery_app import app

    old = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False  # so eager retries run (errors still raise in .get())
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = old


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Attach the end-to-end Celery worker's log to a failing test's report."""
    report = yield
    if report.when == "call" and report.failed:
        log = item.funcargs.get("celery_worker_process")
        if log is not None:
            report.sections.append(
                ("Celery worker log (last 8000 characters)", log.read_text()[-8000:])
            )
    return report
