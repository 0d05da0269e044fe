"""Nothing lost when things break, with a real worker, a real broker and PostgreSQL: the
broker stopped while alerts commit, the database's connections terminated while deliveries
are in flight, the worker killed while it sends a digest, Slack answering after 40 s.

Each test counts what reached the fake Slack: every notification at least once, and the
duplicates (a message sent again because its answer was lost) as docs/delivery.md says.
tox runs this module in the PostgreSQL envs (marker ``faults``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import kombu
import pytest
from django.db import connection, transaction

from django_slack_rules.models import DeliveryState, SlackDelivery
from tests.factories import AlertInstanceFactory, RuleFactory
from tests.fake_slack import FakeSlack
from tests.processes import ROOT, celery_worker, wait_until
from tests.redis_server import RedisServer
from tests.utils import drop_queue, fire, private_queue

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

#: The recovery task's period in these tests (celery beat inside the worker), and how long
#: a pending delivery must be untouched before it is queued again.
RECOVERY_EVERY = 3.0
RECOVERY_AFTER = 2.0


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def queue(settings) -> str:
    name = f"dsr-faults-{uuid.uuid4().hex[:12]}"
    settings.SLACK_RULES = {**settings.SLACK_RULES, "QUEUE": name}
    return name


@pytest.fixture
def start_worker(django_db_blocker, slack, queue, settings, tmp_path):
    """``start_worker(broker=…)``: a real worker (two processes, celery beat running the
    recovery every RECOVERY_EVERY s) on this test's queue; its process. Stopped at the end."""
    settings.SLACK_INTERNAL_ENDPOINT = f"{slack.url}/slack-proxy/"
    with django_db_blocker.unblock():
        db_name = str(connection.settings_dict["NAME"])
    started: list[tuple[str, Iterator[subprocess.Popen[bytes]]]] = []

    def start(
        broker: str | None = None, concurrency: int = 2, **env: str
    ) -> subprocess.Popen[bytes]:
        broker = broker or settings.CELERY_BROKER_URL
        with kombu.Connection(broker, connect_timeout=5) as conn:
            private_queue(queue)(conn.default_channel).declare()
        running = celery_worker(
            queue=queue,
            db_name=db_name,
            broker=broker,
            endpoint=settings.SLACK_INTERNAL_ENDPOINT,
            log=tmp_path / f"worker-{len(started)}.log",
            concurrency=concurrency,
            recovery_every=RECOVERY_EVERY,
            env={"DSR_RECOVERY_AFTER": str(RECOVERY_AFTER), "DSR_DIGEST_AFTER": "2", **env},
        )
        started.append((broker, running))
        return running.__enter__()

    yield start
    for _broker, running in reversed(started):
        running.__exit__(None, None, None)
    for broker in {broker for broker, _ in started}:
        with contextlib.suppress(Exception):  # a private broker gone by now holds nothing
            drop_queue(broker, queue)


def texts(slack: FakeSlack) -> Counter[str]:
    return Counter(request.json()["text"] for request in slack.requests)


def all_sent(count: int) -> bool:
    return SlackDelivery.objects.filter(state=DeliveryState.SENT).count() == count


def by_label_rule():
    """One rule for every alert; each alert goes to the channel its label names, so that
    no channel's pace holds the test back."""
    return RuleFactory(name="all", slack_channel="", message_template="{{ labels.instance }}")


# -- the broker stopped while alerts commit --------------------------------------------------


def host_commits(count: int, prefix: str, broker: str, queue: str) -> list[float]:
    """The host, in a process of its own, commits ``count`` alerts; each commit's seconds."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DSR_WORKER_DB": str(connection.settings_dict["NAME"]),
        "DSR_TEST_QUEUE": queue,
        "CELERY_BROKER_URL": broker,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.host_process", str(count), prefix],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])["commits"]


def test_alerts_committed_while_the_broker_is_down_are_all_sent_once_with_no_command(
    start_worker, slack, queue
):
    by_label_rule()
    with RedisServer() as broker:
        start_worker(broker=broker.url)
        broker.stop()
        commits = host_commits(20, "down", broker.url, queue)
        # The host's transactions never failed, nor waited long for the broker.
        assert len(commits) == 20
        assert max(commits) < 2.0, commits
        assert SlackDelivery.objects.filter(state="pending").count() == 20
        broker.start()
        back = time.monotonic()
        wait_until(lambda: all_sent(20), timeout=60, what="20 deliveries sent")
        took = time.monotonic() - back
    # Two recovery periods, and the time the worker takes to see the broker again.
    assert took <= 2 * RECOVERY_EVERY + RECOVERY_AFTER + 10, took
    received = texts(slack)
    assert sorted(received) == sorted(f"down-{n}" for n in range(20))
    assert set(received.values()) == {1}, received


# -- the database's connections terminated while deliveries are in flight ----------------------


def terminate_connections() -> int:
    """Terminate every other connection to the test database (a failover, a restarted
    pooler); how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def test_deliveries_in_flight_survive_terminated_database_connections(start_worker, slack):
    by_label_rule()
    start_worker()
    slack.respond_slow(0.3, times=30)  # every request in flight for a while
    with transaction.atomic():
        for n in range(30):
            instance = AlertInstanceFactory(
                alert_group__labels={"instance": f"flight-{n}", "channel": f"flight-{n}"}
            )
            fire(instance.alert_group, instance)
    terminated = []
    for after in (5, 15):
        slack.wait_for_requests(after, timeout=60)
        terminated.append(terminate_connections())
    assert all(terminated), terminated  # the worker had connections open, twice
    wait_until(lambda: all_sent(30), timeout=90, what="30 deliveries sent")
    received = texts(slack)
    assert sorted(received) == sorted(f"flight-{n}" for n in range(30))
    duplicates = sum(received.values()) - 30
    print(f"terminated {terminated} connections; {duplicates} duplicate(s)")
    # A message is sent again only when its outcome could not be written at all.
    assert duplicates <= 2, received


# -- the worker killed while it sends a digest ---------------------------------------------------


def test_a_digest_whose_worker_was_killed_mid_send_is_sent(start_worker, slack):
    rule = RuleFactory(name="storm", slack_channel="#storm", message_template="{{ instance }}")
    worker = start_worker(concurrency=1)
    with transaction.atomic():
        for n in range(8):
            instance = AlertInstanceFactory(alert_group__instance=f"storm-{n}")
            fire(instance.alert_group, instance)
    slack.wait_for_requests(3, timeout=30)  # the burst
    slack.respond_slow(60)  # the next request hangs: the digest, at the next slot
    [*_, hung] = slack.wait_for_requests(4, timeout=30)
    assert hung.json()["text"].startswith(":package:"), hung.json()
    os.kill(worker.pid, signal.SIGKILL)  # the worker dies while Slack holds the digest
    worker.wait(timeout=10)
    digest = SlackDelivery.objects.get(alert_status="digest")
    assert digest.state == DeliveryState.SENDING

    start_worker(concurrency=1)  # a new worker: nothing else is done by hand
    wait_until(
        lambda: SlackDelivery.objects.filter(pk=digest.pk, state="sent").exists(),
        timeout=60,
        what="the digest sent",
    )
    assert (
        rule.deliveries.exclude(alert_status="digest")
        .filter(state__in=["sent", "digested"])
        .count()
        == 8
    )
    received = texts(slack)
    # The digest reached Slack twice: the killed worker's request, which Slack may have
    # taken, and the one that was answered.
    assert received[SlackDelivery.objects.get(pk=digest.pk).text] == 2


# -- Slack answering after 40 s -----------------------------------------------------------------


def test_slack_answering_after_40_seconds_loses_nothing(start_worker, slack):
    by_label_rule()
    start_worker(concurrency=1)
    slack.respond_slow(40, times=3)  # longer than the read timeout: the answers are lost
    with transaction.atomic():
        for n in range(6):
            instance = AlertInstanceFactory(
                alert_group__labels={"instance": f"slow-{n}", "channel": f"slow-{n}"}
            )
            fire(instance.alert_group, instance)
    wait_until(lambda: all_sent(6), timeout=90, what="6 deliveries sent")
    received = texts(slack)
    assert sorted(received) == sorted(f"slow-{n}" for n in range(6))
    # Each request whose answer timed out was sent again: Slack got it twice.
    assert sum(received.values()) - 6 == 3, received
    timed_out = SlackDelivery.objects.filter(attempts__gt=1)
    assert sum(d.attempts - 1 for d in timed_out) == 3


# -- Slack's rate limit, without pacing ----------------------------------------------------


def test_without_pacing_a_429_stops_every_worker_process(start_worker, slack):
    """Pacing off (the host limits itself): when Slack answers 429, both worker processes
    stop sending to the channel until Retry-After has passed; only a request already on
    its way can arrive inside the window."""
    RuleFactory(name="web", slack_channel="#web", message_template="{{ labels.instance }}")
    start_worker(concurrency=2, DSR_CHANNEL_RATE="none")
    slack.limit_channels(rate=2, burst=4)
    with transaction.atomic():
        for n in range(30):
            instance = AlertInstanceFactory(alert_group__labels={"instance": f"burst-{n}"})
            fire(instance.alert_group, instance)
    wait_until(lambda: all_sent(30), timeout=90, what="30 deliveries sent")
    limited, inside = len(slack.rate_limited), len(slack.inside_retry_after)
    print(f"{limited} answered 429; {inside} arrived inside a Retry-After window")
    assert limited, "Slack's limit was reached"
    # Each 429 can find the other process's request already on its way, no more.
    assert inside <= limited, [r.json() for r in slack.inside_retry_after]
    assert sorted(texts(slack)) == sorted(f"burst-{n}" for n in range(30))
