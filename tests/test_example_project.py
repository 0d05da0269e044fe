"""example_project as a user meets it (tox env ``example``).

- The README's demo command, run exactly as written from a copy of the tree: it
  creates its virtualenv, installs the package from PyPI's dependencies, and must
  print the expected Slack messages and none for the silenced alert.
- End to end on PostgreSQL and Redis: Alertmanager payloads posted over HTTP to the
  example's webhook, a real Celery worker, and exactly the expected posts at a fake
  Slack (directly, and through the shipped nginx gateway).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.example_site import EXAMPLE, ROOT, ExampleSite, example_on_postgres
from tests.fake_slack import FakeSlack

if TYPE_CHECKING:
    from tests.nginx_gateway import NginxGateway

pytestmark = pytest.mark.example

SAMPLES = EXAMPLE / "samples"
DEMO_COMMAND = ["python3", "example_project/demo.py"]  # README.md, "Try it"
DEMO_TIMEOUT = 900  # seconds: the first run creates a virtualenv and installs from PyPI
MESSAGE_TIMEOUT = 30.0

#: The demo's story: each sample and exactly the Slack posts it must cause, in order.
STORY = [
    (
        "high_cpu_critical.json",  # severity=critical: "Critical alerts", priority 100
        [
            (
                "#oncall",
                ":rotating_light: <!here> *HighCPUUsage* on `webserver01:9100`\n"
                "High CPU usage detected on webserver01.\n"
                ">CPU usage on webserver01 has exceeded 90% for more than 5 minutes.",
            )
        ],
    ),
    (
        "one_fireing_alert.json",  # no specific rule: the catch-all "Everything else"
        [
            (
                "#alerts",
                ":warning: [WARNING] *NodeExporterNotScrape8* on `localhost:9108`: "
                "node exporter localhost:9100 is DOWN.",
            )
        ],
    ),
    ("two_time_firing.json", []),  # instance 10.1.1.11:9100 is silenced: nothing
    (
        "db_failure_firing.json",  # category=database: "Database team", priority 200
        [
            (
                "#db-team",
                ":red_circle: *DatabaseConnectionFailure* is firing on `db-server-03:3306`\n"
                "Database connection failure on db-server-03.\n"
                "<https://wiki.example.com/alerts/database-connection-failure|Runbook>",
            )
        ],
    ),
    (
        "db_failure_resolved.json",  # the same alert resolved: the rule's resolved template
        [
            (
                "#db-team",
                ":large_green_circle: *DatabaseConnectionFailure* on `db-server-03:3306` "
                "is resolved (16:00 UTC)",
            )
        ],
    ),
]

MARKER = {
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "EndOfTest", "severity": "info", "instance": "marker:1"},
            "annotations": {"summary": "everything before me was processed"},
            "startsAt": "2025-04-09T00:00:00Z",
        }
    ]
}
MARKER_POST = (
    "#alerts",
    ":warning: [INFO] *EndOfTest* on `marker:1`: everything before me was processed",
)


# --- the demo ------------------------------------------------------------------------


def _ignore(directory: str, names: list[str]) -> set[str]:
    skipped = {".git", ".venv", ".tox", ".state", "site", "build", "dist", "node_modules"}
    return {n for n in names if n in skipped or n.endswith((".egg-info", "_cache", "__pycache__"))}


@pytest.fixture(scope="module")
def fresh_tree(tmp_path_factory) -> Path:
    """A copy of the working tree without virtualenvs or caches: a fresh checkout."""
    tree = tmp_path_factory.mktemp("checkout") / "django-slack-rules"
    shutil.copytree(ROOT, tree, ignore=_ignore)
    return tree


def user_env() -> dict[str, str]:
    """The environment of a user's shell: none of this test run's Python or Django settings."""
    foreign = ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONDEVMODE")
    return {k: v for k, v in os.environ.items() if k not in foreign}


def processes_running_from(tree: Path) -> list[str]:
    """Command lines of the processes that run something in ``tree`` (Linux /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(tree) in command:
            found.append(command)
    return found


def test_the_readme_demo_command_prints_the_expected_slack_messages(fresh_tree):
    readme = (ROOT / "README.md").read_text()
    assert " ".join(DEMO_COMMAND) in readme
    assert " ".join([*DEMO_COMMAND, "--no-serve"]) in readme

    done = subprocess.run(
        [*DEMO_COMMAND, "--no-serve"],
        cwd=fresh_tree,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    output = done.stdout
    assert done.returncode == 0, f"{output}\n{done.stderr}"
    # What the fake Slack received, as the demo prints it (Slack's mrkdwn rendered).
    for expected in (
        "┌ #oncall",
        "│ 🚨 @here *HighCPUUsage* on `webserver01:9100`",
        "┌ #alerts",
        "│ ⚠️ [WARNING] *NodeExporterNotScrape8* on `localhost:9108`",
        "┌ #db-team",
        "│ Runbook (https://wiki.example.com/alerts/database-connection-failure)",
        "│ 🟢 *DatabaseConnectionFailure* on `db-server-03:3306` is resolved (16:00 UTC)",
        "2 alert(s) stored, 2 silenced",
        "No message for the silenced alert NodeExporterNotScrapeNew.",
        "OK: Slack received the 4 expected messages.",
    ):
        assert expected in output, f"{expected!r} not in the demo's output:\n{output}"
    # The summary: exactly four posts, in the story's order, none for the silenced alert.
    result = output.split("==> Result", 1)[1].split("No message for", 1)[0]
    assert [line.split()[:2] for line in result.strip().splitlines()] == [
        ["#oncall", "post"],
        ["#alerts", "post"],
        ["#db-team", "post"],
        ["#db-team", "post"],
    ]
    assert "NodeExporterNotScrapeNew" not in result
    assert "[ Acknowledge ]" not in output  # buttons need bot mode
    assert output.count("sent     new message  attempts=1") == 4  # the delivery log
    assert processes_running_from(fresh_tree) == []


def test_the_readme_demo_in_bot_mode_shows_replies_updates_and_an_acknowledgement(fresh_tree):
    """README's demo command with --bot: the fake Slack speaks the Web API, and the database
    alert's resolution is a reply in its firing message's thread and an update of it, each
    recorded in the delivery log under the firing message's delivery. The critical alert's
    message has buttons; the fake Slack clicks Acknowledge (signed as Slack signs), and the
    host acknowledges the alert for the demo's user and the message is updated."""
    readme = (ROOT / "README.md").read_text()
    assert " ".join([*DEMO_COMMAND, "--bot"]) in readme
    done = subprocess.run(
        [*DEMO_COMMAND, "--bot", "--no-serve"],
        cwd=fresh_tree,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    output = done.stdout
    assert done.returncode == 0, f"{output}\n{done.stderr}"
    firing_ts = output.split("┌ #db-team  ·  django-slack-rules  APP  ", 1)[1].split("(ts ", 1)[1]
    firing_ts = firing_ts.split(")", 1)[0]
    for expected in (
        "gateway mode: bot",
        f"↳ thread reply to {firing_ts}\n    │ 🟢 *DatabaseConnectionFailure* on "
        "`db-server-03:3306` is resolved (16:00 UTC)",
        f"✎ update of {firing_ts}\n    │ 🟢 *DatabaseConnectionFailure*",
        "OK: Slack received the 6 expected messages.",
    ):
        assert expected in output, f"{expected!r} not in the demo's output:\n{output}"
    # The round trip: the buttons, the click, the host's acknowledgement, the message updated.
    oncall = output.split("┌ #oncall  ·  django-slack-rules  APP  ", 1)[1]
    oncall_ts = oncall.split("(ts ", 1)[1].split(")", 1)[0]
    assert "│ [ Acknowledge ]  [ Silence for… ▾ ]  [ Open in Example ↗ ]\n" in oncall
    click = output.split("Someone in #oncall clicks Acknowledge", 1)[1].split("==> Result")[0]
    for expected in (
        f"@demo (U0DEMO) clicks [ Acknowledge ] on {oncall_ts} in #oncall: Slack posts the "
        "click to /slack/actions/, signed with the app's signing secret -> HTTP 200",
        f"✎ update of {oncall_ts}\n    │ 🚨 @here *HighCPUUsage* on `webserver01:9100`",
        "│ [ Silence for… ▾ ]  [ Open in Example ↗ ]\n    │ ✅ Acknowledged by @demo at ",
        "HighCPUUsage: acknowledged by demo at ",
        "history: demo, 'Acknowledged from Slack by @demo.'",
        "click 1: acknowledge by @demo as demo: done, Slack told: sent",
    ):
        assert expected in click, f"{expected!r} not in the click's output:\n{click}"
    assert "[ Acknowledge ]" not in click.split("✎ update of", 1)[1]  # the button is gone
    assert "only visible to" not in output  # no answer to the clicker: it was done
    result = output.split("==> Result", 1)[1].split("No message for", 1)[0]
    assert [line.split()[:2] for line in result.strip().splitlines()] == [
        ["#oncall", "post"],
        ["#alerts", "post"],
        ["#db-team", "post"],
        ["#db-team", "reply"],
        ["#db-team", "update"],
        ["#oncall", "update"],
    ]
    log = output.split("Delivery log", 1)[1]
    firing = next(line for line in log.splitlines() if "(firing)" in line and "#db-team" in line)
    firing_id = firing.split()[0]
    assert "sent     thread reply attempts=1  rule='Database team'" in log
    assert "sent     update       attempts=1  rule='Database team'" in log
    assert log.count(f"(resolved)  under delivery {firing_id}") == 2
    assert processes_running_from(fresh_tree) == []


def log_in_and_get(url: str, username: str, password: str) -> tuple[str, Any]:
    """Log in through the example's login form, then GET ``url``; return the page and the
    logged-in opener."""
    base = url.split("/", 3)
    login = f"{base[0]}//{base[2]}/accounts/login/"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with opener.open(login, timeout=10) as response:
        form = response.read().decode()
    token = form.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": url}
    ).encode()
    request = urllib.request.Request(login, data=data, headers={"Referer": login})
    with opener.open(request, timeout=10) as response:
        assert response.url == url, f"the login did not lead to {url} but {response.url}"
        return response.read().decode(), opener


def post_form(opener: Any, url: str, data: dict[str, str]) -> str:
    """POST ``data`` to ``url`` as its page's form would (with the page's CSRF token and the
    preview's sample fields); return the page it redirects to."""
    page_url = url if not url.endswith("resend/") else url.rsplit("resend/", 1)[0]
    with opener.open(page_url, timeout=10) as response:
        page = response.read().decode()
    token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    fields = {"csrfmiddlewaretoken": token, **data}
    if "preview/" in url:
        fields.update(labels='{"alertname": "Demo"}', annotations="{}", status="firing")
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(fields).encode(), headers={"Referer": page_url}
    )
    with opener.open(request, timeout=30) as response:
        return response.read().decode()


def test_the_demo_serves_the_ui_and_ctrl_c_stops_everything(fresh_tree):
    demo = subprocess.Popen(
        DEMO_COMMAND,
        cwd=fresh_tree,
        env=user_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # bounded by the demo's own timeouts
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert "Press Ctrl-C" in output, output
        url = output.split("Rules:  ", 1)[1].split()[0]
        password = output.split("Log in: demo / ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        # The printed login opens the rule pages.
        page, opener = log_in_and_get(url, "demo", password)
        assert "Everything else" in page  # a demo rule, in the list
        # Every rule page renders (its forms included) for the printed login.
        for path in ("rules/new/", "rules/1/", "rules/1/preview/", "match/", "deliveries/"):
            with opener.open(url + path, timeout=10) as response:
                assert response.status == 200, path
                assert "<form" in response.read().decode(), path
        # The host's layout gives each message level its Bootstrap style: a warning is
        # not a success.
        sent = post_form(opener, url + "rules/1/preview/", {"send": ""})
        assert 'class="alert alert-success dsr-outcome" role="alert">Sent to' in sent
        nothing = post_form(opener, url + "deliveries/resend/", {"delivery": "999999"})
        assert (
            'class="alert alert-warning" role="alert">Nothing queued: only failed or cancelled'
        ) in nothing
        demo.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        rest, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate(timeout=10)
    assert demo.returncode == 130, rest
    assert "Stopped the worker, the web app and the fake Slack." in rest
    assert processes_running_from(fresh_tree) == []


# --- end to end on PostgreSQL and Redis ----------------------------------------------


#: The gateway's secrets: one incoming webhook per channel of the demo rules.
WEBHOOKS = {
    "#oncall": "/services/T0EXAMPLE/B0ONCALL/oncall-webhook-secret",
    "#alerts": "/services/T0EXAMPLE/B0ALERTS/alerts-webhook-secret",
    "#db-team": "/services/T0EXAMPLE/B0DBTEAM/db-team-webhook-secret",
}


@dataclass
class Route:
    """Where the example's worker posts (SLACK_INTERNAL_ENDPOINT) and the Slack behind it."""

    slack: FakeSlack
    endpoint: str
    gateway: NginxGateway | None = None

    def expected_path(self, channel: str) -> str:
        return "/slack-proxy/" if self.gateway is None else WEBHOOKS[channel]


@pytest.fixture(scope="module", params=["direct", "nginx"])
def route(request) -> Iterator[Route]:
    """``direct``: the fake Slack stands in for the proxy. ``nginx``: the shipped gateway
    (deploy/nginx, webhook mode) forwards to a fake Slack on HTTPS."""
    if request.param == "direct":
        with FakeSlack() as slack:
            yield Route(slack, f"{slack.url}/slack-proxy/")
        return
    from tests.nginx_gateway import NginxGateway, SlackCertificates, webhook_secrets

    with (
        SlackCertificates() as certs,
        FakeSlack(ssl_context=certs.server_context()) as slack,
        NginxGateway(
            mode="webhook",
            slack=slack,
            ca_file=certs.ca_file,
            secrets=webhook_secrets(WEBHOOKS),
            burst=50,
        ) as gateway,
    ):
        yield Route(slack, gateway.endpoint, gateway)
        for secret in WEBHOOKS.values():
            assert gateway.logs_containing(secret) == []


@pytest.fixture(scope="module")
def example_slack(route) -> FakeSlack:
    return route.slack


@pytest.fixture(scope="module")
def example_site(route, tmp_path_factory) -> Iterator[ExampleSite]:
    """example_project on its own PostgreSQL database and Redis queue, with a real worker."""
    with example_on_postgres(
        endpoint=route.endpoint, state_dir=tmp_path_factory.mktemp("example-site")
    ) as site:
        yield site
        # The worker never knew the secrets the gateway holds.
        for secret in WEBHOOKS.values():
            assert secret not in site.log("worker").read_text()


def post_sample(site: ExampleSite, sample: str) -> dict:
    status, answer = site.post_webhook((SAMPLES / sample).read_bytes())
    assert status == 200, answer
    return answer


def test_alertmanager_payloads_become_exactly_the_expected_slack_posts(
    example_site, example_slack, route
):
    example_slack.reset()
    expected: list[tuple[str, str]] = []
    try:
        for sample, posts in STORY:
            answer = post_sample(example_site, sample)
            expected += posts
            # Wait for this sample's posts before the next, so "resolved" follows "firing".
            example_slack.wait_for_requests(len(expected), timeout=MESSAGE_TIMEOUT)
            if sample == "two_time_firing.json":
                assert [a["silenced"] for a in answer["alerts"]] == [True, True]
                assert answer["alerts"][0]["silence"] == "Maintenance of 10.1.1.11"
        # The same notification again (Alertmanager's repeat_interval): no second post.
        post_sample(example_site, "high_cpu_critical.json")
        # One worker on one queue, in order: once the marker has arrived, everything
        # queued before it (a silenced alert or a repeat, had they been queued) has too.
        status, _ = example_site.post_webhook(json.dumps(MARKER).encode())
        assert status == 200
        requests = example_slack.wait_for_requests(len(expected) + 1, timeout=MESSAGE_TIMEOUT)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{example_site.logs()}") from None

    received = [(r.json()["channel"], r.json()["text"]) for r in requests]
    assert received == [*expected, MARKER_POST]
    for request in requests:
        assert request.path == route.expected_path(request.json()["channel"])
    assert not any("NodeExporterNotScrapeNew" in text for _, text in received)
    assert example_site.manage("shell", "-v", "0", "-c", COUNT_DELIVERIES).split() == ["5", "5"]


COUNT_DELIVERIES = (
    "from django_slack_rules.models import SlackDelivery as D;"
    "print(D.objects.count(), D.objects.filter(state='sent').count())"
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "The body is not valid JSON: "),
        (b"[]", "The body must be a JSON object with an 'alerts' list, not a list."),
        (b'{"status": "firing"}', "The body has no 'alerts' list"),
        (b'{"alerts": {}}', "'alerts' must be a list, not an object."),
        (b'{"alerts": [42]}', "alerts[0] must be an object, not a number."),
        (
            b'{"alerts": [{"status": "firing", "startsAt": "2025-04-08T03:38:00Z"}]}',
            "alerts[0].labels is missing",
        ),
        (
            b'{"alerts": [{"status": "firing", "labels": {"severity": 3},'
            b' "startsAt": "2025-04-08T03:38:00Z"}]}',
            "alerts[0].labels.severity must be a string, not a number.",
        ),
        (
            b'{"alerts": [{"status": "pending", "labels": {},'
            b' "startsAt": "2025-04-08T03:38:00Z"}]}',
            "alerts[0].status must be 'firing' or 'resolved', not 'pending'.",
        ),
        (
            b'{"alerts": [{"status": "firing", "labels": {}}]}',
            "alerts[0].startsAt is missing",
        ),
        (
            b'{"alerts": [{"status": "firing", "labels": {}, "startsAt": "yesterday"}]}',
            "alerts[0].startsAt must be an RFC 3339 time, not 'yesterday'.",
        ),
        (
            b'{"alerts": [{"status": "firing", "labels": {}, "startsAt": "2025-02-30T00:00:00Z"}]}',
            "alerts[0].startsAt must be an RFC 3339 time, not '2025-02-30T00:00:00Z'.",
        ),
        (
            b'{"alerts": [{"status": "resolved", "labels": {}, "startsAt": "2025-01-01T00:00:00Z",'
            b' "endsAt": "2025-01-01T25:00:00Z"}]}',
            "alerts[0].endsAt must be an RFC 3339 time, not '2025-01-01T25:00:00Z'.",
        ),
        (b"[" * 100_000, "nested too deeply"),
    ],
    ids=lambda value: value[:40] if isinstance(value, bytes) else None,
)
def test_a_bad_payload_is_answered_400_with_what_is_wrong(example_site, body, message):
    status, answer = example_site.post_webhook(body)
    assert status == 400
    assert message in answer["error"]


def test_label_values_longer_than_the_columns_are_stored_whole_in_the_labels(
    example_site, example_slack
):
    long = "x" * 300
    alert = {
        "status": "firing",
        "labels": {"alertname": "A" + long, "severity": "s" + long, "instance": "i" + long},
        "startsAt": "2025-04-08T03:38:00Z",
        "fingerprint": "long-values-0001",
    }
    status, answer = example_site.post_webhook(json.dumps({"alerts": [alert]}).encode())
    assert status == 200, answer
    stored = example_site.manage(
        "shell", "-v", "0", "-c",
        "from alerts.models import AlertGroup as A;"
        "a = A.objects.get(fingerprint='long-values-0001');"
        "print(len(a.name), len(a.severity), len(a.labels['severity']))",
    )  # fmt: skip
    assert stored.split() == ["255", "50", "301"]


def test_a_batch_with_one_bad_alert_stores_none_of_it(example_site, example_slack):
    good = json.loads((SAMPLES / "one_fireing_alert.json").read_bytes())["alerts"][0]
    good = {**good, "fingerprint": "batch-good-0001"}
    bad = {**good, "fingerprint": "batch-bad-0002", "status": "unknown"}
    status, answer = example_site.post_webhook(json.dumps({"alerts": [good, bad]}).encode())
    assert (status, answer["error"]) == (
        400,
        "alerts[1].status must be 'firing' or 'resolved', not 'unknown'.",
    )
    count = example_site.manage(
        "shell", "-v", "0", "-c",
        "from alerts.models import AlertGroup as A;"
        "print(A.objects.filter(fingerprint__startswith='batch-').count())",
    )  # fmt: skip
    assert count.strip() == "0"
