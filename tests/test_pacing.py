"""Pacing: each destination's slots in the database, shared by every worker and host.

The bucket is taken in one UPDATE, so it holds under concurrency on every database the
package supports (the tox envs run this module on SQLite, PostgreSQL and MariaDB).
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections
from django.db.models import Exists
from django.utils import timezone

from django_slack_rules.models import DestinationPace, SlackDelivery
from django_slack_rules.services import pacing
from tests.factories import DeliveryFactory

NOW = 1_800_000_000.0  # a moment, in seconds since the epoch
ONE_PER_SECOND = pacing.Pace(rate=1.0, burst=3)


def take(now, destination="#storm", pace=ONE_PER_SECOND):
    return pacing.take(destination, pace, now=now)


@pytest.mark.django_db
def test_a_burst_goes_at_once_then_one_slot_per_interval():
    assert [take(NOW).granted for _ in range(3)] == [True, True, True]
    refused = take(NOW)
    assert (refused.granted, refused.next_at) == (False, NOW + 1)
    assert not take(NOW + 0.9).granted
    assert take(NOW + 1).granted
    assert not take(NOW + 1.5).granted
    assert take(NOW + 2).granted
    # Another destination has slots of its own.
    assert take(NOW + 2, destination="#calm").granted
    # After a quiet spell, the burst again, and no more.
    assert [take(NOW + 60).granted for _ in range(4)] == [True, True, True, False]


@pytest.mark.django_db
def test_the_rate_and_burst_are_the_settings(slack_rules):
    slack_rules(CHANNEL_RATE=2, CHANNEL_BURST=1)
    pace = pacing.current()
    assert (pace.interval, pace.tolerance) == (0.5, 0.0)
    assert take(NOW, pace=pace).granted
    assert take(NOW, pace=pace).next_at == NOW + 0.5
    slack_rules(CHANNEL_RATE=None)
    assert pacing.current() is None


@pytest.mark.django_db
def test_a_429_holds_every_slot_until_retry_after_then_one_per_interval():
    pacing.pause("#storm", 30, ONE_PER_SECOND)
    now = time.time()
    refused = take(now)
    assert not refused.granted
    assert 29.5 <= refused.next_at - now <= 30.5
    assert take(now + 30.5).granted
    assert not take(now + 30.5).granted  # no burst right after a pause
    # A shorter pause later never shortens it.
    pacing.pause("#storm", 1, ONE_PER_SECOND)
    assert not take(now + 30.9).granted
    assert take(now + 31).granted


@pytest.mark.django_db
def test_while_a_drain_is_due_the_line_goes_first():
    assert pacing.arm("#storm", NOW + 5, now=NOW) is None  # no row yet: nothing to drain
    assert take(NOW).granted
    drain = pacing.arm("#storm", NOW + 5, now=NOW)
    assert drain is not None
    assert (drain.destination, drain.countdown) == ("#storm", 5)
    # A slot is free, but deliveries wait: a newcomer queues behind them.
    refused = take(NOW)
    assert (refused.granted, refused.next_at) == (False, NOW)
    # One drain at a time: a second arm is refused while the first is due...
    assert pacing.arm("#storm", NOW, now=NOW + 1) is None
    # ...until it is overdue by the drain lease (lost with its message): replaced.
    late = NOW + 5 + pacing.lease_seconds() + 1
    replacement = pacing.arm("#storm", late, now=late)
    assert replacement is not None
    assert replacement.token != drain.token
    # Only the drain holding the token hands over; the replaced one cannot.
    assert not DestinationPace.hand_over("#storm", drain.token, due=late + 30, new_token=1)
    assert pacing.take("#storm", ONE_PER_SECOND, now=late, for_line=True).granted
    nothing_waits = Exists(SlackDelivery.objects.none())
    assert not DestinationPace.let_go("#storm", drain.token, nothing_waits)
    assert DestinationPace.let_go("#storm", replacement.token, nothing_waits)
    assert take(late).granted  # let go: newcomers take slots again


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_take_more_than_the_burst():
    # Eight workers, each with its own database connection, take the same second's slots.
    vendor = connection.vendor
    granted: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)
    now = time.time() + 3600  # a second of its own, well ahead of any other test's

    def worker() -> None:
        try:
            start.wait(timeout=10)
            for _ in range(3):
                granted.append(pacing.take("#race", ONE_PER_SECOND, now=now).granted)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    pacing.take("#race", ONE_PER_SECOND, now=now - 100)  # the row exists
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [], f"{vendor}: {errors!r}"
    assert len(granted) == 24
    assert granted.count(True) == ONE_PER_SECOND.burst, vendor
    (tat,) = DestinationPace.objects.filter(destination="#race").values_list("tat", flat=True)
    assert tat == pytest.approx(now + ONE_PER_SECOND.burst)


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_messages_to_a_new_destination_create_one_row():
    granted: list[bool] = []
    start = threading.Barrier(6)
    now = time.time()

    def worker() -> None:
        try:
            start.wait(timeout=10)
            granted.append(pacing.take("#new", ONE_PER_SECOND, now=now).granted)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert granted.count(True) == ONE_PER_SECOND.burst
    assert DestinationPace.objects.filter(destination="#new").count() == 1


@pytest.mark.django_db
def test_a_drain_lets_go_only_when_its_line_is_empty():
    """The line goes first: a drain does not let go of its destination while a delivery
    waits, so a newcomer never takes a free slot ahead of it."""
    now = time.time()
    assert take(now).granted
    drain = pacing.arm("#storm", now, now=now)
    waiting = DeliveryFactory(channel="#storm", waiting_since=timezone.now())
    line = Exists(pacing.waiting("#storm"))
    assert not DestinationPace.let_go("#storm", drain.token, line)
    assert not take(now + 10).granted  # a newcomer joins the line
    waiting.delete()
    assert DestinationPace.let_go("#storm", drain.token, line)
    assert take(now + 10).granted
