"""The metrics view: what it counts (against the delivery log), what it shows now, and who
it answers."""

from __future__ import annotations

import datetime
import hmac
import logging
import threading

import pytest
from django.db import connections

from django_slack_rules.models import (
    DestinationPause,
    MetricsCount,
    MetricsOpenDelivery,
    MetricsTally,
    SlackDelivery,
)
from django_slack_rules.services import tally
from tests.factories import RuleFactory
from tests.metrics_helpers import (
    TOKEN,
    ago,
    assert_agrees_with_log,
    by,
    counters,
    make_delivery,
    parse,
    time_passes,
    value,
)
from tests.ui_users import make_user
from tests.utils import url

pytestmark = pytest.mark.django_db

NOTIFICATIONS = "slack_rules_notifications_total"


@pytest.fixture
def metrics_on(slack_rules, tmp_path):
    """Metrics enabled, with a token file."""
    token_file = tmp_path / "metrics-token"
    token_file.write_text(TOKEN + "\n")

    def enable(**options):
        slack_rules(METRICS={"ENABLED": True, "TOKEN_FILE": str(token_file), **options})
        return token_file

    enable()
    return enable


@pytest.fixture
def scrape(client, metrics_on):
    """Scrape the view with the token; the samples."""

    def run():
        response = client.get(url("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content
        return parse(response.content.decode())

    return run


def a_log():
    """Records of every kind, most of them older than the tally's mark."""
    hour = ago(hours=2)
    sent_at = hour + datetime.timedelta(seconds=3)
    for _ in range(3):
        make_delivery(state="sent", created_at=hour, sent_at=sent_at, attempts=1)
    make_delivery(state="sent", channel="#db", rule_name="db", created_at=hour, sent_at=hour)
    make_delivery(state="failed", failure_reason="slack_error", created_at=hour)
    make_delivery(state="failed", failure_reason="timeout", channel="#db", rule_name="db")
    make_delivery(state="failed", failure_reason="", created_at=hour)
    make_delivery(state="cancelled", created_at=hour)
    digest = make_delivery(state="sent", alert_status="digest", rule_name="web", sent_at=hour)
    make_delivery(state="digested", digest=digest, created_at=hour)
    make_delivery(state="digested", digest=digest)
    make_delivery(state="pending", created_at=hour)
    make_delivery(state="sent", sent_at=ago(seconds=1))  # recent: after the mark


# -- counting ---------------------------------------------------------------------------


def test_every_counter_agrees_with_the_delivery_log(scrape):
    a_log()
    samples = scrape()
    assert_agrees_with_log(samples)
    assert value(samples, NOTIFICATIONS, channel="#web", rule="web", outcome="sent") == 4
    assert value(samples, NOTIFICATIONS, channel="#web", rule="(digest)", outcome="sent") == 1
    assert value(samples, "slack_rules_digests_sent_total", channel="#web") == 1
    failed = "slack_rules_notifications_failed_total"
    assert value(samples, failed, channel="#web", rule="web", reason="other") == 1
    # Every outcome and reason of a channel and rule is shown from the start, at 0.
    assert value(samples, failed, channel="#db", rule="db", reason="rate_limited") == 0
    zero = {("channel", "#db"), ("rule", "db"), ("reason", "rate_limited")}
    assert ("slack_rules_notifications_failed_total", frozenset(zero)) in samples
    # A second scrape counts nothing twice.
    assert counters(scrape()) == counters(samples)


def test_the_latency_histogram_observes_each_notification_sent_on_its_own(scrape):
    start = ago(hours=1)
    for seconds in (0.2, 3, 3, 4000):
        make_delivery(
            state="sent", created_at=start, sent_at=start + datetime.timedelta(seconds=seconds)
        )
    recent = ago(seconds=5)  # after the mark
    make_delivery(state="sent", created_at=recent, sent_at=recent + datetime.timedelta(seconds=0.5))
    samples = scrape()
    name = "slack_rules_notification_latency_seconds"
    assert value(samples, f"{name}_bucket", channel="#web", le="0.5") == 2
    assert value(samples, f"{name}_bucket", channel="#web", le="2.5") == 2
    assert value(samples, f"{name}_bucket", channel="#web", le="5.0") == 4
    assert value(samples, f"{name}_bucket", channel="#web", le="3600.0") == 4
    assert value(samples, f"{name}_bucket", channel="#web", le="+Inf") == 5
    assert value(samples, f"{name}_count", channel="#web") == 5
    assert value(samples, f"{name}_sum", channel="#web") == pytest.approx(4006.7)


def test_a_bucket_bound_counts_the_same_before_and_after_the_mark(scrape):
    # Counted in the database (the mark's window) and in Python (a delivery settling after
    # the mark passed it): one second exactly is in the le="1.0" bucket both ways.
    start = ago(hours=1)
    make_delivery(state="sent", created_at=start, sent_at=start + datetime.timedelta(seconds=1))
    late = make_delivery(state="sending", created_at=start)
    scrape()
    SlackDelivery.objects.filter(pk=late.pk).update(
        state="sent", sent_at=start + datetime.timedelta(seconds=1)
    )
    samples = scrape()
    name = "slack_rules_notification_latency_seconds_bucket"
    assert value(samples, name, channel="#web", le="1.0") == 2
    assert value(samples, name, channel="#web", le="0.5") == 0


def test_counts_stay_as_the_mark_passes_the_records(scrape):
    a_log()
    first = scrape()
    time_passes(datetime.timedelta(hours=1))
    assert counters(scrape()) == counters(first)
    # A day later: everything is in the tally (stored in the database, not the process).
    time_passes(datetime.timedelta(days=1))
    again = scrape()
    assert by(again, NOTIFICATIONS, "channel", "rule", "outcome") == by(
        first, NOTIFICATIONS, "channel", "rule", "outcome"
    )
    assert MetricsCount.objects.exists()


def test_a_delivery_in_flight_when_the_mark_passes_is_counted_when_it_settles(scrape):
    pending = make_delivery(state="pending", created_at=ago(hours=1))
    samples = scrape()
    assert value(samples, NOTIFICATIONS, channel="#web", rule="web", outcome="sent") == 0
    assert MetricsOpenDelivery.objects.filter(delivery_id=pending.pk).exists()
    SlackDelivery.objects.filter(pk=pending.pk).update(state="sent", sent_at=ago(seconds=1))
    for _ in range(2):
        samples = scrape()
        assert value(samples, NOTIFICATIONS, channel="#web", rule="web", outcome="sent") == 1
    assert not MetricsOpenDelivery.objects.exists()
    assert_agrees_with_log(samples)


def test_a_waiting_delivery_folded_into_a_digest_counts_as_digested(scrape):
    waiting = make_delivery(state="pending", waiting_since=ago(hours=1), created_at=ago(hours=1))
    scrape()
    digest = make_delivery(state="sent", alert_status="digest", sent_at=ago(seconds=1))
    SlackDelivery.objects.filter(pk=waiting.pk).update(
        state="digested", digest=digest, waiting_since=None
    )
    samples = scrape()
    assert value(samples, NOTIFICATIONS, channel="#web", rule="web", outcome="digested") == 1
    assert_agrees_with_log(samples)


@pytest.mark.parametrize("age", [datetime.timedelta(hours=1), datetime.timedelta(seconds=5)])
def test_a_resent_delivery_counts_its_failure_and_then_its_resend(client, scrape, age):
    failed = make_delivery(state="failed", failure_reason="slack_error", created_at=ago() - age)
    samples = scrape()
    assert value(samples, NOTIFICATIONS, channel="#web", rule="web", outcome="failed") == 1
    client.force_login(make_user("view_slackdelivery", "change_slackdelivery"))
    client.post(url("delivery-resend"), {"delivery": [failed.pk]})
    assert SlackDelivery.objects.get(pk=failed.pk).state == "pending"
    # Pending again: the failure stays counted (a counter never goes back).
    samples = scrape()
    assert value(samples, NOTIFICATIONS, channel="#web", rule="web", outcome="failed") == 1
    # The worker sends it; time passes.
    SlackDelivery.objects.filter(pk=failed.pk).update(state="sent", sent_at=ago(seconds=1))
    for _ in range(2):
        samples = scrape()
        assert value(samples, NOTIFICATIONS, channel="#web", rule="web", outcome="failed") == 1
        assert value(samples, NOTIFICATIONS, channel="#web", rule="web", outcome="sent") == 1
        time_passes(datetime.timedelta(hours=1))


def test_a_delivery_resent_and_sent_between_two_scrapes_counts_both(admin_client, scrape):
    failed = make_delivery(state="failed", failure_reason="timeout", created_at=ago(hours=1))
    scrape()
    admin_client.post(
        "/admin/django_slack_rules/slackdelivery/",
        {"action": "resend_failed", "_selected_action": [failed.pk]},
    )
    SlackDelivery.objects.filter(pk=failed.pk).update(state="sent", sent_at=ago(seconds=1))
    samples = scrape()
    assert value(samples, NOTIFICATIONS, channel="#web", rule="web", outcome="failed") == 1
    assert value(samples, NOTIFICATIONS, channel="#web", rule="web", outcome="sent") == 1


def test_pruning_through_the_tally_never_lowers_a_counter(scrape):
    a_log()
    before = scrape()
    # Everything settled may go, down to the last second: only counted records are deleted.
    prunable = tally.prunable(SlackDelivery.objects.filter(state__in=["sent", "failed"]))
    deleted, _ = prunable.delete()
    assert deleted
    assert SlackDelivery.objects.filter(state="sent").exists()  # the recent one
    after = scrape()
    assert by(after, NOTIFICATIONS, "channel", "rule", "outcome") == by(
        before, NOTIFICATIONS, "channel", "rule", "outcome"
    )


def test_pruning_before_any_scrape_keeps_nothing_back():
    make_delivery(state="sent", sent_at=ago(seconds=1))
    assert tally.prunable(SlackDelivery.objects.all()).count() == 1


def test_concurrent_scrapes_count_each_record_once(transactional_db, metrics_on):
    a_log()
    errors = []

    def scrape_once():
        try:
            tally.scrape()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scrape_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    snapshot = tally.scrape()
    sent = sum(a.count for k, a in snapshot.counts.items() if k.outcome == "sent")
    assert sent == SlackDelivery.objects.filter(state="sent").count()
    assert MetricsTally.objects.count() == 1


# -- label values -----------------------------------------------------------------------


def test_channels_beyond_the_limit_are_counted_as_other(scrape, metrics_on):
    metrics_on(MAX_LABEL_VALUES=2)
    for channel in ("#a", "#b", "#c", "#d"):
        make_delivery(state="sent", channel=channel, sent_at=ago(seconds=1))
    samples = scrape()
    counts = by(samples, NOTIFICATIONS, "channel", "outcome")
    assert counts == {("#a", "sent"): 1, ("#b", "sent"): 1, ("other", "sent"): 2}
    # A channel keeps its place: a new channel sorted before it does not take it.
    make_delivery(state="sent", channel="#0", sent_at=ago(seconds=1))
    counts = by(scrape(), NOTIFICATIONS, "channel", "outcome")
    assert counts == {("#a", "sent"): 1, ("#b", "sent"): 1, ("other", "sent"): 3}
    # A lower limit folds the last ones into "other"; the total stays.
    metrics_on(MAX_LABEL_VALUES=1)
    counts = by(scrape(), NOTIFICATIONS, "channel", "outcome")
    assert counts == {("#a", "sent"): 1, ("other", "sent"): 4}


# -- now --------------------------------------------------------------------------------


def test_what_is_in_flight_now(scrape):
    make_delivery(state="pending", created_at=ago(minutes=20))
    make_delivery(state="pending", waiting_since=ago(seconds=3), channel="#busy")
    make_delivery(state="pending", waiting_since=ago(seconds=3), channel="#busy")
    make_delivery(state="pending", attempts=2, failure_reason="slack_unavailable")
    make_delivery(state="sending", channel="#busy")
    DestinationPause.objects.create(destination="#busy", paused_until=ago(seconds=-30))
    DestinationPause.objects.create(destination="#web", paused_until=ago(minutes=5))
    samples = scrape()
    assert by(samples, "slack_rules_pending", "channel") == {("#web",): 2, ("#busy",): 3}
    assert by(samples, "slack_rules_waiting", "channel") == {("#busy",): 2}
    assert by(samples, "slack_rules_retrying", "channel", "reason") == {
        ("#web", "slack_unavailable"): 1
    }
    oldest = value(samples, "slack_rules_oldest_pending_seconds")
    assert 20 * 60 <= oldest < 21 * 60
    assert value(samples, "slack_rules_paused", channel="#busy") == 1
    assert value(samples, "slack_rules_paused", channel="#web") == 0


def test_nothing_in_flight_shows_zero(scrape):
    samples = scrape()
    assert ("slack_rules_oldest_pending_seconds", frozenset()) in samples
    assert value(samples, "slack_rules_oldest_pending_seconds") == 0


def test_the_matcher_index(scrape):
    RuleFactory(name="a", match_criteria={"team": "web"})
    RuleFactory(name="b", match_criteria={}, is_active=False)
    samples = scrape()
    assert value(samples, "slack_rules_rules_indexed") == 1
    rebuilds = value(samples, "slack_rules_rule_index_rebuilds_total")
    assert value(scrape(), "slack_rules_rule_index_rebuilds_total") == rebuilds
    RuleFactory(name="c", match_criteria={"team": "db"})
    samples = scrape()
    assert value(samples, "slack_rules_rules_indexed") == 2
    assert value(samples, "slack_rules_rule_index_rebuilds_total") == rebuilds + 1


# -- who it answers ---------------------------------------------------------------------


def test_off_by_default(client):
    assert client.get(url("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer wrong-token"},
        {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"},
        {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}x"},
        {"HTTP_AUTHORIZATION": "Bearer "},
    ],
)
def test_a_scrape_without_the_token_gets_nothing(client, metrics_on, headers):
    make_delivery(state="sent", sent_at=ago(seconds=1))
    response = client.get(url("metrics"), **headers)
    assert response.status_code == 403
    assert b"slack_rules" not in response.content
    assert not MetricsTally.objects.exists()  # nothing was even counted


def test_the_token_from_the_environment(client, slack_rules, monkeypatch):
    slack_rules(METRICS={"ENABLED": True})
    monkeypatch.setenv("SLACK_RULES_METRICS_TOKEN", "from-the-environment")
    ok = client.get(url("metrics"), HTTP_AUTHORIZATION="Bearer from-the-environment")
    assert ok.status_code == 200
    assert b"slack_rules_notifications_total" in ok.content
    assert client.get(url("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
    monkeypatch.delenv("SLACK_RULES_METRICS_TOKEN")
    assert client.get(url("metrics"), HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_a_new_token_in_the_file_is_used_at_once(client, metrics_on):
    token_file = metrics_on()
    token_file.write_text("rotated")
    assert client.get(url("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
    assert client.get(url("metrics"), HTTP_AUTHORIZATION="Bearer rotated").status_code == 200


@pytest.mark.parametrize(
    ("allow", "status"),
    [(["127.0.0.1"], 200), (["127.0.0.0/8", "::1"], 200), (["10.0.0.0/8"], 403), ([], 403)],
)
def test_allowed_addresses_need_no_token(client, slack_rules, allow, status):
    slack_rules(METRICS={"ENABLED": True, "ALLOW": allow})
    # The test client's REMOTE_ADDR is 127.0.0.1.
    assert client.get(url("metrics")).status_code == status


def test_the_token_is_compared_in_constant_time_and_never_logged(
    client, metrics_on, monkeypatch, caplog, tmp_path
):
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    caplog.set_level(logging.DEBUG)
    assert client.get(url("metrics"), HTTP_AUTHORIZATION="Bearer guess").status_code == 403
    assert client.get(url("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    # Each try compared digests of equal length, never the token itself.
    assert len(compared) == 2
    assert all(len(a) == len(b) == 32 for a, b in compared)
    assert all(TOKEN.encode() not in (a, b) for a, b in compared)
    # An unreadable file is an error that names the setting and the path, not a secret.
    metrics_on(TOKEN_FILE=str(tmp_path / "missing"))
    assert client.get(url("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
    assert "TOKEN_FILE" in caplog.text
    assert "missing" in caplog.text
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert "guess" not in record.getMessage()


def test_the_answer_is_prometheus_text_and_never_cached(client, metrics_on):
    response = client.get(url("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response["Cache-Control"] == "no-store"
    openmetrics = client.get(
        url("metrics"),
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        HTTP_ACCEPT="application/openmetrics-text; version=1.0.0",
    )
    assert openmetrics["Content-Type"].startswith("application/openmetrics-text")
    assert openmetrics.content.rstrip().endswith(b"# EOF")


def test_a_storms_line_behind_the_mark_is_counted_when_it_settles(scrape):
    # More deliveries remembered than are looked up one by one (tally_rows.FEW): a join.
    from django_slack_rules.services.tally_rows import FEW

    old = ago(hours=1)
    SlackDelivery.objects.bulk_create(
        SlackDelivery(
            rule_name="storm",
            alert_id=str(n),
            alert_status="firing",
            idempotency_key=f"storm-{n}",
            channel="#storm",
            state="pending",
            waiting_since=old,
        )
        for n in range(FEW + 5)
    )
    SlackDelivery.objects.update(created_at=old)
    scrape()
    assert MetricsOpenDelivery.objects.count() == FEW + 5
    SlackDelivery.objects.update(state="digested", waiting_since=None)
    samples = scrape()
    assert value(samples, NOTIFICATIONS, channel="#storm", rule="storm", outcome="digested") == (
        FEW + 5
    )
    assert not MetricsOpenDelivery.objects.exists()
    assert_agrees_with_log(samples)
