"""example_project fed by a real Alertmanager, not by replayed JSON (tox env ``example``).

Debian's ``prometheus-alertmanager`` runs on 127.0.0.1 with a webhook receiver pointing
at the example's ``alerts/api/v1/webhook/``. The test posts alerts to Alertmanager's API
the way Prometheus does, silences one instance in Alertmanager, resolves one alert, and
asserts what a user sees: the Slack posts (each exactly once), nothing for the silenced
alert, and the delivery log. The example runs on PostgreSQL and Redis with a real Celery
worker; only Slack is faked.
"""

from __future__ import annotations

import contextlib
import datetime
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.alertmanager_server import AlertmanagerServer, webhook_config
from tests.example_site import EXAMPLE, WEBHOOK_PATH, ExampleSite, example_on_postgres
from tests.fake_slack import FakeSlack, RecordedRequest

pytestmark = pytest.mark.example

SAMPLES = EXAMPLE / "samples"
MESSAGE_TIMEOUT = 30.0
SILENCED_INSTANCE = "localhost:9109"

#: The Slack posts of the three alerts that fire, by the demo rules; their order between
#: Alertmanager's groups is not fixed.
FIRING_POSTS = [
    (
        "#oncall",  # HighCPUUsage, severity=critical: "Critical alerts"
        ":rotating_light: <!here> *HighCPUUsage* on `webserver01:9100`\n"
        "High CPU usage detected on webserver01.\n"
        ">CPU usage on webserver01 has exceeded 90% for more than 5 minutes.",
    ),
    (
        "#alerts",  # NodeExporterNotScrape8 on localhost:9108 (its twin on :9109 is silenced)
        ":warning: [WARNING] *NodeExporterNotScrape8* on `localhost:9108`: "
        "node exporter localhost:9100 is DOWN.",
    ),
    (
        "#db-team",  # DatabaseConnectionFailure, category=database: "Database team"
        ":red_circle: *DatabaseConnectionFailure* is firing on `db-server-03:3306`\n"
        "Database connection failure on db-server-03.\n"
        "<https://wiki.example.com/alerts/database-connection-failure|Runbook>",
    ),
]
RESOLVED_POST = (
    "#db-team",
    ":large_green_circle: *DatabaseConnectionFailure* on `db-server-03:3306` "
    "is resolved (16:00 UTC)",
)
#: No startsAt: Alertmanager sets it to the time it received the alert, to the nanosecond.
MARKER_ALERT = {
    "labels": {"alertname": "EndOfTest", "severity": "info", "instance": "marker:1"},
    "annotations": {"summary": "everything before me was processed"},
}
MARKER_POST = (
    "#alerts",
    ":warning: [INFO] *EndOfTest* on `marker:1`: everything before me was processed",
)


def sample_alert(sample: str, **labels: str) -> dict[str, Any]:
    """The alert of one of the example's samples, as a client posts it to Alertmanager's
    API (with ``labels`` changed): Alertmanager computes the fingerprint and the status."""
    alert = json.loads((SAMPLES / sample).read_bytes())["alerts"][0]
    posted = {
        "labels": {**alert["labels"], **labels},
        "annotations": alert["annotations"],
        "startsAt": alert["startsAt"],
        "generatorURL": alert["generatorURL"],
    }
    if alert["status"] == "resolved":  # what Prometheus sends once the alert stops firing
        posted["endsAt"] = alert["endsAt"]
    return posted


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def posts(requests: list[RecordedRequest]) -> list[tuple[str, str]]:
    return [(request.json()["channel"], request.json()["text"]) for request in requests]


def shell_json(site: ExampleSite, code: str) -> Any:
    """Run ``code`` in the example's ``manage.py shell``; it prints one JSON value."""
    return json.loads(site.manage("shell", "-v", "0", "-c", code))


STORED_ALERTS = (
    "import json; from alerts.models import AlertGroup as A;"
    "print(json.dumps(sorted("
    "[a.name, a.instance, a.current_status, a.fingerprint] for a in A.objects.all())))"
)
DELIVERY_LOG = (
    "import json; from django_slack_rules.models import SlackDelivery as D;"
    "print(json.dumps(sorted("
    "[d.rule_name, d.channel, d.alert_status, d.state, d.attempts] for d in D.objects.all())))"
)


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def site(slack, tmp_path_factory) -> Iterator[ExampleSite]:
    """example_project on PostgreSQL and Redis, its worker posting to the fake Slack."""
    with example_on_postgres(
        endpoint=f"{slack.url}/slack-proxy/", state_dir=tmp_path_factory.mktemp("example-site")
    ) as example:
        yield example


@pytest.fixture
def alertmanager(site, tmp_path) -> Iterator[AlertmanagerServer]:
    """A real Alertmanager whose only receiver is the example's webhook, resolved alerts
    included. One group per alertname; short waits, so a test takes seconds; no repeats
    within a test. Firing alerts without ``endsAt`` stay firing for ``resolve_timeout``,
    longer than a test: an alert resolves only when the test resolves it."""
    config = webhook_config(
        site.url + WEBHOOK_PATH,
        group_by=["alertname"],
        group_wait="200ms",
        group_interval="500ms",
        repeat_interval="1h",
        resolve_timeout="5m",
    )
    with AlertmanagerServer(config=config, state_dir=tmp_path) as server:
        yield server


@contextlib.contextmanager
def logs_on_failure(site: ExampleSite, alertmanager: AlertmanagerServer) -> Iterator[None]:
    """Add the example's and Alertmanager's logs to a failed assertion's message."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n{site.logs()}\n--- alertmanager log ---\n{alertmanager.log()[-8000:]}"
        ) from None


def test_a_real_alertmanager_feeds_the_example_exactly_the_expected_slack_posts(
    site, slack, alertmanager
):
    slack.reset()
    now = datetime.datetime.now(datetime.timezone.utc)
    with logs_on_failure(site, alertmanager):
        # An operator silences one instance in Alertmanager, before its alert fires.
        silence_id = alertmanager.add_silence(
            {"instance": SILENCED_INSTANCE},
            starts_at=rfc3339(now),
            ends_at=rfc3339(now + datetime.timedelta(hours=1)),
            comment=f"Maintenance of {SILENCED_INSTANCE}",
        )
        # Prometheus posts four firing alerts; one of the two NodeExporterNotScrape8 is on
        # the silenced instance (the same group: Alertmanager drops it from the group's
        # notification and sends the other).
        alertmanager.post_alerts(
            [
                sample_alert("high_cpu_critical.json"),
                sample_alert("one_fireing_alert.json"),
                sample_alert("one_fireing_alert.json", instance=SILENCED_INSTANCE),
                sample_alert("db_failure_firing.json"),
            ]
        )
        firing = slack.wait_for_requests(len(FIRING_POSTS), timeout=MESSAGE_TIMEOUT)
        assert Counter(posts(firing)) == Counter(FIRING_POSTS)
        # Alertmanager's fingerprints (it lists an alert only while it is not resolved).
        fingerprints = {a["labels"]["instance"]: a["fingerprint"] for a in alertmanager.alerts()}

        # The database alert stops firing: Prometheus sends it with its endsAt, and
        # Alertmanager notifies the resolution (send_resolved) at the group's next interval.
        alertmanager.post_alerts([sample_alert("db_failure_resolved.json")])
        slack.wait_for_requests(len(FIRING_POSTS) + 1, timeout=MESSAGE_TIMEOUT)

        # One worker on one queue, in order: once the marker's post has arrived, every
        # notification Alertmanager sent before it has been processed.
        alertmanager.post_alerts([MARKER_ALERT])
        requests = slack.wait_for_requests(len(FIRING_POSTS) + 2, timeout=MESSAGE_TIMEOUT)

        # Each post exactly once: the firing ones, then the resolution, then the marker.
        received = posts(requests)
        assert Counter(received[: len(FIRING_POSTS)]) == Counter(FIRING_POSTS)
        assert received[len(FIRING_POSTS) :] == [RESOLVED_POST, MARKER_POST]
        assert not any(SILENCED_INSTANCE in text for _, text in received)
        # Alertmanager made five webhook notifications, each answered 200 the first time:
        # three groups firing, the resolution, the marker.
        assert alertmanager.metric("alertmanager_notifications_total", integration="webhook") == 5
        assert (
            alertmanager.metric("alertmanager_notifications_failed_total", integration="webhook")
            == 0
        )

        # Alertmanager holds the silenced alert as suppressed by the operator's silence...
        held = {a["labels"]["instance"]: a for a in alertmanager.alerts()}
        fingerprints["marker:1"] = held["marker:1"]["fingerprint"]
        assert held[SILENCED_INSTANCE]["status"]["state"] == "suppressed"
        assert held[SILENCED_INSTANCE]["status"]["silencedBy"] == [silence_id]
        assert "db-server-03:3306" not in held  # resolved: no longer held
        # ...and never sent it: the example stored the others, under Alertmanager's
        # fingerprints, and the database alert as resolved.
        stored = shell_json(site, STORED_ALERTS)
        assert [row[:3] for row in stored] == sorted(
            [
                ["DatabaseConnectionFailure", "db-server-03:3306", "resolved"],
                ["EndOfTest", "marker:1", "firing"],
                ["HighCPUUsage", "webserver01:9100", "firing"],
                ["NodeExporterNotScrape8", "localhost:9108", "firing"],
            ]
        )
        assert {instance: fingerprint for _, instance, _, fingerprint in stored} == {
            instance: fingerprints[instance]
            for instance in ("db-server-03:3306", "marker:1", "webserver01:9100", "localhost:9108")
        }

        # The delivery log: one row per post, each sent at the first attempt.
        assert shell_json(site, DELIVERY_LOG) == sorted(
            [
                ["Critical alerts", "#oncall", "firing", "sent", 1],
                ["Database team", "#db-team", "firing", "sent", 1],
                ["Database team", "#db-team", "resolved", "sent", 1],
                ["Everything else", "#alerts", "firing", "sent", 1],
                ["Everything else", "#alerts", "firing", "sent", 1],
            ]
        )
