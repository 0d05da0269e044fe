"""End to end: the host's signal in a committed transaction → a real Celery worker on a
real broker (Redis, or RabbitMQ when ``CELERY_BROKER_URL`` is an ``amqp://`` URL) → the
fake Slack over HTTP. Nothing is mocked but Slack."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection, transaction

from django_slack_rules.models import DeliveryState, SlackDelivery
from django_slack_rules.services.slack_matcher import SlackRuleMatcherService
from django_slack_rules.tasks import process_slack_for_alert_group
from tests.factories import AlertInstanceFactory
from tests.fake_slack import FakeSlack
from tests.processes import wait_until
from tests.utils import fan_out_rules, fire, worker_on_queue

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def e2e_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture(scope="session")
def e2e_queue() -> str:
    return f"dsr-e2e-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup, django_db_blocker, e2e_slack, e2e_queue, tmp_path_factory
):
    """A real ``celery worker`` process on the test database and a private broker queue."""
    with worker_on_queue(
        e2e_queue,
        endpoint=f"{e2e_slack.url}/slack-proxy/",
        django_db_blocker=django_db_blocker,
        log_dir=tmp_path_factory.mktemp("worker"),
    ) as log:
        yield log


@pytest.fixture
def worker(celery_worker_process, e2e_slack, e2e_queue, settings):
    """The running worker; this test's messages go to its queue and its Slack."""
    e2e_slack.reset()
    settings.SLACK_RULES = {**settings.SLACK_RULES, "QUEUE": e2e_queue}
    settings.SLACK_INTERNAL_ENDPOINT = f"{e2e_slack.url}/slack-proxy/"
    return e2e_slack


def new_alert(**labels):
    instance = AlertInstanceFactory(
        alert_group__labels={"alertname": "HighCPU", **labels},
        annotations={"summary": f"CPU high on {labels.get('instance', 'web-1')}"},
    )
    return instance.alert_group, instance


def deliveries_in(state):
    return list(SlackDelivery.objects.filter(state=state))


def test_committed_alert_reaches_slack_once(worker, rule):
    with transaction.atomic():
        alert, instance = new_alert(team="web", instance="web-7")
        fire(alert, instance)
    [request] = worker.wait_for_requests(1)
    assert request.json() == {"channel": "#web", "text": "HighCPU: CPU high on web-7"}
    [delivery] = wait_until(lambda: deliveries_in(DeliveryState.SENT), what="the delivery record")
    assert (delivery.attempts, delivery.fingerprint) == (1, alert.fingerprint)


def test_rolled_back_alert_sends_nothing(worker, rule):
    with pytest.raises(RuntimeError), transaction.atomic():
        alert, instance = new_alert(team="web", instance="rolled-back")
        fire(alert, instance)
        raise RuntimeError("the host's processing failed")
    with transaction.atomic():
        alert, instance = new_alert(team="web", instance="committed")
        fire(alert, instance)
    # One worker, one queue, in order: had the rolled-back alert been queued, it came first.
    [request] = worker.wait_for_requests(1)
    assert request.json()["text"] == "HighCPU: CPU high on committed"
    wait_until(lambda: deliveries_in(DeliveryState.SENT), what="the delivery record")
    assert SlackDelivery.objects.count() == 1


def test_retried_after_a_server_error(worker, rule):
    worker.respond_server_error(500)
    with transaction.atomic():
        alert, instance = new_alert(team="web")
        fire(alert, instance)
    first, second = worker.wait_for_requests(2)
    assert first.json() == second.json()
    [delivery] = wait_until(lambda: deliveries_in(DeliveryState.SENT), what="the delivery")
    assert delivery.attempts == 2
    assert delivery.http_status == 200


def test_retried_after_429_only_once_retry_after_has_passed(worker, rule):
    worker.respond_rate_limited(retry_after=2)
    with transaction.atomic():
        for n in range(3):
            alert, instance = new_alert(team="web", instance=f"web-{n}")
            fire(alert, instance)
    requests = worker.wait_for_requests(4)
    limited_at = requests[0].received_at
    # The whole channel waited: nothing reached Slack again before Retry-After.
    assert all(r.received_at - limited_at >= 2.0 for r in requests[1:])
    sent = wait_until(
        lambda: len(deliveries_in(DeliveryState.SENT)) == 3 and deliveries_in(DeliveryState.SENT),
        what="three sent deliveries",
    )
    texts = sorted(r.json()["text"] for r in requests[1:])
    assert texts == [f"HighCPU: CPU high on web-{n}" for n in range(3)]
    assert len(sent) == 3


def test_the_same_task_queued_twice_posts_once(worker, rule, e2e_queue):
    alert, instance = new_alert(team="web")
    for _ in range(2):
        process_slack_for_alert_group.apply_async(
            args=(alert.pk, rule.pk),
            kwargs={"status": "firing", "occurrence": str(instance.pk)},
            queue=e2e_queue,
        )
    worker.wait_for_requests(1)
    # A marker alert queued after both: once it has arrived, both copies were processed.
    marker, _ = new_alert(team="web", instance="marker")
    process_slack_for_alert_group.apply_async(args=(marker.pk, rule.pk), queue=e2e_queue)
    requests = worker.wait_for_requests(2)
    assert [r.json()["text"] for r in requests] == [
        "HighCPU: CPU high on web-1",
        "HighCPU: CPU high on marker",
    ]


def test_one_alert_fans_out_to_several_rules_each_sent_once(worker):
    fan_out_rules()
    alert, instance = new_alert(team="web", instance="web-3")
    # The same occurrence signalled twice, in two transactions: each rule's task runs twice.
    for _ in range(2):
        with transaction.atomic():
            fire(alert, instance)
    # A marker only the catch-all takes, queued after both: once it has arrived, all four
    # tasks were processed.
    with transaction.atomic():
        marker, marker_instance = new_alert(team="db", instance="marker")
        fire(marker, marker_instance)
    requests = worker.wait_for_requests(3)
    assert [(r.json()["channel"], r.json()["text"]) for r in requests] == [
        ("#pager", "page: HighCPU"),
        ("#web", "web: HighCPU"),
        ("#all", "all: HighCPU on marker"),
    ]
    sent = wait_until(
        lambda: len(deliveries_in(DeliveryState.SENT)) == 3 and deliveries_in(DeliveryState.SENT),
        what="three sent deliveries",
    )
    assert sorted((d.rule_name, d.alert_id, d.attempts) for d in sent) == [
        ("catch-all", str(marker.pk), 1),
        ("pager", str(alert.pk), 1),
        ("web", str(alert.pk), 1),
    ]
    assert SlackDelivery.objects.count() == 3


def test_a_rule_edited_in_another_process_is_seen_by_the_next_match(worker, rule):
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
    )
    assert done.returncode == 0, done.stderr
    assert matcher.find_matching_rule({"team": "web"}) is None
    assert matcher.find_matching_rule({"team": "db"}) == rule


def test_the_worker_log_names_the_alert(worker, rule, celery_worker_process):
    with transaction.atomic():
        alert, instance = new_alert(team="web")
        fire(alert, instance)
    worker.wait_for_requests(1)
    wait_until(
        lambda: f"fingerprint={alert.fingerprint}" in celery_worker_process.read_text(),
        what="the worker's log line",
    )
    assert "slack-proxy" not in celery_worker_process.read_text()


# -- storms: pacing and digests through the worker ---------------------------------------


def storm(rule, count):
    """``count`` alerts for ``rule``, each processed by the host in a transaction of its own."""
    for n in range(count):
        with transaction.atomic():
            alert, instance = new_alert(team="web", instance=f"storm-{n}")
            fire(alert, instance)


def accounted_for(count):
    """Every delivery sent or folded into a sent digest, once: the deliveries, or None."""
    deliveries = list(SlackDelivery.objects.exclude(alert_status="digest").select_related("digest"))
    if len(deliveries) != count:
        return None

    def settled(delivery):
        if delivery.state == DeliveryState.DIGESTED:
            return delivery.digest is not None and delivery.digest.state == DeliveryState.SENT
        return delivery.state == DeliveryState.SENT

    return deliveries if all(settled(d) for d in deliveries) else None


def test_a_short_burst_is_paced_to_the_channels_rate_oldest_first(worker, rule):
    worker.limit_channels(rate=1, burst=5)  # Slack's pace, which answers 429 beyond it
    storm(rule, 6)  # three at once (CHANNEL_BURST), then one per second: no digest
    wait_until(lambda: accounted_for(6), what="6 sent deliveries")
    requests = worker.wait_for_requests(6)
    assert [r.json()["text"] for r in requests] == [
        f"HighCPU: CPU high on storm-{n}" for n in range(6)
    ]
    # The burst goes at once; the other three get a slot a second apart. A slot is a point in
    # time, so a busy worker can only send later: the last three cannot be closer than that
    # (the burst's first can arrive late, on a cold worker, so the span is not measured
    # from it).
    span = requests[5].received_at - requests[3].received_at
    assert span >= 1.8, [r.received_at - requests[0].received_at for r in requests]
    assert worker.rate_limited == worker.inside_retry_after == []
    assert set(SlackDelivery.objects.values_list("state", "attempts")) == {("sent", 1)}


def test_a_storm_becomes_digests_with_every_alert_accounted_for(worker, rule):
    worker.limit_channels(rate=1, burst=5)
    count = 40
    storm(rule, count)
    deliveries = wait_until(lambda: accounted_for(count), what=f"{count} alerts accounted for")
    requests = worker.requests
    digests = list(SlackDelivery.objects.filter(alert_status="digest"))
    singles = [d for d in deliveries if d.state == DeliveryState.SENT]
    folded = [d for d in deliveries if d.state == DeliveryState.DIGESTED]
    assert digests, "more than DIGEST_AFTER waited: at least one digest"
    assert {d.state for d in digests} == {"sent"}
    # Each alert once: sent alone, or in exactly one digest that Slack received.
    assert len(singles) + len(folded) == count
    assert {d.digest_id for d in folded} <= {d.pk for d in digests}
    assert len(requests) == len(singles) + len(digests) < count
    texts = [r.json()["text"] for r in requests]
    for digest in digests:
        assert digest.text in texts
        total = sum(1 for d in folded if d.digest_id == digest.pk)
        assert digest.text.splitlines()[0] == (
            f":package: *{total} alert{'s' if total > 1 else ''} for #web, in one message*"
        )
    # Within Slack's pace: no 429, nothing sent during a Retry-After window.
    assert worker.rate_limited == worker.inside_retry_after == []
    # Nothing waits any more, and no attempt was used by waiting.
    assert not SlackDelivery.objects.filter(waiting_since__isnull=False).exists()
    assert {d.attempts for d in folded} == {0}


def test_digests_go_at_every_slot_while_the_storm_is_still_queued(worker, rule):
    """The line's slots are used as they open, by the deliveries' own tasks, however many
    tasks are queued ahead of the line's drain: Slack hears of the storm every second."""
    worker.limit_channels(rate=1, burst=5)
    count = 300
    with transaction.atomic():  # one commit queues them all at once: a storm in the queue
        for n in range(count):
            alert, instance = new_alert(team="web", instance=f"storm-{n}")
            fire(alert, instance)
    wait_until(lambda: accounted_for(count), timeout=120, what=f"{count} alerts accounted for")
    arrived = [request.received_at for request in worker.requests]
    gaps = [later - earlier for earlier, later in zip(arrived, arrived[1:])]
    # One slot a second; a digest's request may be a little late, never a queue's length.
    assert max(gaps) < 3.0, gaps
    assert worker.rate_limited == worker.inside_retry_after == []
