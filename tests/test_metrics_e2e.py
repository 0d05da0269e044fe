"""End to end: alerts through a real Celery worker on a real broker to the fake Slack (sent,
retried, refused for good, paced and folded into a digest); then a scrape of the metrics
view agrees with the delivery log, count for count, however the tally got there."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator

import pytest
from django.db import transaction

from django_slack_rules.models import (
    MetricsCount,
    MetricsOpenDelivery,
    MetricsTally,
    SlackDelivery,
)
from tests.factories import AlertInstanceFactory, RuleFactory
from tests.fake_slack import FakeSlack
from tests.metrics_helpers import TOKEN, assert_agrees_with_log, by, counters, parse, time_passes
from tests.processes import wait_until
from tests.utils import fire, url, worker_on_queue

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STORM = 20  # more than DIGEST_AFTER (10) beyond the burst (3): a digest folds the rest


@pytest.fixture(scope="module")
def metrics_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture(scope="module")
def metrics_queue() -> str:
    return f"dsr-metrics-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def metrics_worker(
    django_db_setup, django_db_blocker, metrics_slack, metrics_queue, tmp_path_factory
):
    with worker_on_queue(
        metrics_queue,
        endpoint=f"{metrics_slack.url}/slack-proxy/",
        django_db_blocker=django_db_blocker,
        log_dir=tmp_path_factory.mktemp("metrics-worker"),
    ) as log:
        yield log


def alert(team: str, n: int):
    instance = AlertInstanceFactory(
        alert_group__labels={"alertname": "HighCPU", "team": team, "instance": f"{team}-{n}"},
        annotations={"summary": f"CPU high on {team}-{n}"},
    )
    return instance.alert_group, instance


def settled(expected: int) -> bool:
    states = list(SlackDelivery.objects.values_list("state", flat=True))
    return len(states) == expected and not {"pending", "sending"} & set(states)


def test_a_scrape_after_a_real_worker_agrees_with_the_delivery_log(
    metrics_worker, metrics_slack, metrics_queue, settings, client, tmp_path
):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    settings.SLACK_RULES = {
        **settings.SLACK_RULES,
        "QUEUE": metrics_queue,
        "METRICS": {"ENABLED": True, "TOKEN_FILE": str(token_file)},
    }
    settings.SLACK_INTERNAL_ENDPOINT = f"{metrics_slack.url}/slack-proxy/"
    metrics_slack.reset()
    RuleFactory(name="web", match_criteria={"team": "web"}, slack_channel="#web")
    RuleFactory(name="storm", match_criteria={"team": "storm"}, slack_channel="#storm")

    def scrape():
        response = client.get(url("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        return parse(response.content.decode())

    # Refused for good (a 404 of the webhook), then a 500 and a retry that is sent.
    metrics_slack.respond_error(404, "channel_not_found")
    with transaction.atomic():
        fire(*alert("web", 1))
    wait_until(lambda: settled(1), what="the refused delivery")
    metrics_slack.respond_server_error(500)
    with transaction.atomic():
        fire(*alert("web", 2))
    wait_until(lambda: settled(2), what="the retried delivery")
    # A storm to one channel: the burst, then a digest of the line.
    with transaction.atomic():
        for n in range(STORM):
            fire(*alert("storm", n))
    wait_until(lambda: settled(2 + STORM + 1), timeout=60, what="the storm to settle")
    assert SlackDelivery.objects.filter(state="digested").exists()
    assert SlackDelivery.objects.filter(state="failed", failure_reason="slack_error").exists()
    assert SlackDelivery.objects.filter(state="sent", attempts=2).exists()

    # Everything is recent: counted since the tally's mark.
    recent = scrape()
    assert_agrees_with_log(recent)
    outcomes = by(recent, "slack_rules_notifications_total", "channel", "rule", "outcome")
    assert outcomes[("#storm", "storm", "digested")] >= STORM - 3 - 3
    assert outcomes[("#storm", "(digest)", "sent")] >= 1
    assert outcomes[("#web", "web", "failed")] == 1
    # An hour later: the mark passed every record, and the tally holds them.
    time_passes(datetime.timedelta(hours=1))
    later = scrape()
    assert counters(later) == counters(recent)
    assert MetricsCount.objects.filter(outcome="digested").exists()
    # Metrics turned on only now (no tally): the first scrape counts the whole log at once.
    for model in (MetricsCount, MetricsOpenDelivery, MetricsTally):
        model.objects.all().delete()
    first = scrape()
    assert counters(first) == counters(recent)
    assert_agrees_with_log(first)
