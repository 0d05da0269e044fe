"""The gateway (deploy/nginx/) in a real nginx, in front of a fake Slack over verified TLS.

Django's settings hold only the internal endpoint; the webhook paths and the bot
token exist only in the secrets file each gateway is started with. They are
random per run, and the last test greps every nginx log for them.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import transaction

from django_slack_rules.exceptions import (
    SlackPermanentError,
    SlackRateLimitedError,
    SlackRetryableError,
)
from django_slack_rules.models import DeliveryState, SlackDelivery
from django_slack_rules.services.slack_service import SlackService
from django_slack_rules.tasks import process_slack_for_alert_group
from tests.alerts.models import AlertGroup
from tests.alerts.signals import alert_processed
from tests.factories import AlertInstanceFactory, RuleFactory
from tests.fake_slack import FakeSlack
from tests.nginx_gateway import (
    RENDER_SCRIPT,
    NginxGateway,
    RenderError,
    SlackCertificates,
    bot_secrets,
    free_port,
    nginx_test,
    render,
    webhook_secrets,
)
from tests.processes import wait_until
from tests.utils import worker_on_queue

pytestmark = pytest.mark.nginx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "deploy" / "nginx"

#: Every secret handed to a gateway in this module; no log may contain one.
SECRETS: set[str] = set()


def new_webhook(team: str) -> str:
    path = f"/services/T{team}/B{secrets.token_hex(4).upper()}/{secrets.token_urlsafe(18)}"
    SECRETS.add(path)
    return path


def new_token() -> str:
    token = f"xoxb-{secrets.randbelow(10**12)}-{secrets.token_urlsafe(24)}"
    SECRETS.add(token)
    return token


def raw_request(
    gateway: NginxGateway,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, str]:
    """One request to the gateway from ``source`` (another loopback address is another host)."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", gateway.port, timeout=10, source_address=(source, 0)
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def settings_text() -> str:
    """Everything in Django's settings, as text."""
    with warnings.catch_warnings():  # reading deprecated settings (Django 4.2) warns
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return "\n".join(
            f"{name}={getattr(django_settings, name)!r}"
            for name in dir(django_settings)
            if name.isupper()
        )


# -- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def logs_root(tmp_path_factory) -> Path:
    """Every gateway of this module keeps its files (logs included) under here."""
    return tmp_path_factory.mktemp("nginx")


@pytest.fixture(scope="module")
def start_gateway(logs_root) -> Iterator[Callable[..., NginxGateway]]:
    """Start gateways that are stopped at the end of the module; their logs stay."""
    started: list[NginxGateway] = []

    def start(**options) -> NginxGateway:
        workdir = logs_root / f"gateway-{len(started)}"
        workdir.mkdir()
        gateway = NginxGateway(workdir=workdir, **options)
        started.append(gateway)
        return gateway.start()

    yield start
    for gateway in started:
        gateway.stop()
    # Whatever order the tests ran in, no gateway of the module logged a secret.
    assert leaked_secrets(logs_root) == {}


def leaked_secrets(root: Path) -> dict[str, list[str]]:
    """Log files under ``root`` that contain one of :data:`SECRETS`, with what they contain."""
    leaks = {}
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".out"):
            found = [s for s in sorted(SECRETS) if s.encode() in path.read_bytes()]
            if found:
                leaks[str(path.relative_to(root))] = found
    return leaks


@pytest.fixture(scope="module")
def certs() -> Iterator[SlackCertificates]:
    certificates = SlackCertificates()
    yield certificates
    certificates.cleanup()


@pytest.fixture(scope="module")
def hooks_slack(certs) -> Iterator[FakeSlack]:
    """Slack's incoming webhooks, on HTTPS with a certificate for hooks.slack.com."""
    with FakeSlack(ssl_context=certs.server_context()) as slack:
        yield slack


@pytest.fixture(scope="module")
def api_slack(certs) -> Iterator[FakeSlack]:
    """Slack's Web API, on HTTPS with a certificate for slack.com."""
    with FakeSlack(ssl_context=certs.server_context(), api_mode=True) as slack:
        yield slack


@pytest.fixture(scope="module")
def webhooks() -> dict[str, str]:
    return {"#web": new_webhook("WEB"), "#db": new_webhook("DB"), "#アラート": new_webhook("JA")}


@pytest.fixture(scope="module")
def webhook_gateway(start_gateway, hooks_slack, certs, webhooks) -> NginxGateway:
    """Webhook mode; an unknown channel is refused."""
    return start_gateway(
        mode="webhook",
        slack=hooks_slack,
        ca_file=certs.ca_file,
        secrets=webhook_secrets(webhooks),
        burst=50,
    )


@pytest.fixture(scope="module")
def bot_token() -> str:
    return new_token()


@pytest.fixture(scope="module")
def bot_gateway(start_gateway, api_slack, certs, bot_token) -> NginxGateway:
    return start_gateway(
        mode="bot", slack=api_slack, ca_file=certs.ca_file, secrets=bot_secrets(bot_token), burst=50
    )


@pytest.fixture
def through(settings, hooks_slack, api_slack):
    """Point SLACK_INTERNAL_ENDPOINT at a gateway; the fakes start each test empty."""
    hooks_slack.reset()
    api_slack.reset()

    def use(gateway: NginxGateway) -> SlackService:
        settings.SLACK_INTERNAL_ENDPOINT = gateway.endpoint
        return SlackService()

    return use


# -- rendering ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["webhook", "bot"])
def test_the_documented_render_step_gives_a_config_nginx_accepts(tmp_path, mode):
    """render.py as the docs run it, with the shipped .example secrets, passes nginx -t."""
    example = EXAMPLES / f"sentryhub_slack_proxy.secrets.{mode}.conf.example"
    output = tmp_path / "sentryhub_slack_proxy.conf"
    listen = f"127.0.0.1:{free_port()}"  # nginx -t binds it
    done = subprocess.run(
        [
            sys.executable, str(RENDER_SCRIPT), "--mode", mode, "--listen", listen,
            "--allow", "10.0.0.11", "--allow", "10.0.1.0/24", "--secrets", str(example),
            "--resolver", "127.0.0.53", "--log-dir", str(tmp_path / "nginx" / "logs"),
            "--output", str(output),
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = output.read_text()
    assert "allow 10.0.0.11;\n    allow 10.0.1.0/24;\n    deny all;" in config
    assert "    10.0.0.11 1;\n    10.0.1.0/24 1;\n" in config
    assert f"listen {listen};" in config
    assert not re.search("@[A-Z_]+@", config)
    assert ("proxy_ssl_name hooks.slack.com;" in config) == (mode == "webhook")
    assert ("proxy_set_header Authorization" in config) == (mode == "bot")
    assert config.count("location = /slack-proxy/ {") == 1
    assert config.count("location = /slack-proxy/chat.update {") == (mode == "bot")
    checked = nginx_test(config, tmp_path / "nginx")
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_render_names_a_missing_output_directory_instead_of_a_traceback(tmp_path):
    missing = tmp_path / "conf.d"
    done = subprocess.run(
        [
            sys.executable, str(RENDER_SCRIPT), "--mode", "webhook", "--listen", "10.0.0.5:80",
            "--allow", "10.0.0.11", "--resolver", "127.0.0.53",
            "--output", str(missing / "sentryhub_slack_proxy.conf"),
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"the directory {missing} does not exist" in done.stderr
    assert f"mkdir -p {missing}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not missing.exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("listen", "10.0.0.5:80; include /etc/shadow", "ADDRESS:PORT"),
        ("listen", "proxy.internal:80", "IP address"),
        ("callers", ["all"], "IP address or network"),
        ("callers", [], "at least one caller"),
        ("secrets_file", "/etc/nginx/my secrets.conf", "spaces"),
        ("rate", "fast", "1r/s"),
        ("mode", "both", "webhook, bot"),
        ("slack_address", "hooks.slack.com", "HOST:PORT"),
    ],
)
def test_render_refuses_values_that_would_break_or_widen_the_config(option, value, message):
    options = {"mode": "webhook", "listen": "10.0.0.5:80", "callers": ["10.0.0.11"]}
    options["resolver"] = "127.0.0.53"
    options[option] = value
    with pytest.raises(RenderError, match=message):
        render(**options)


# -- webhook mode ------------------------------------------------------------------


def test_a_message_passes_through_nginx_to_the_channels_secret_webhook(
    through, webhook_gateway, hooks_slack, webhooks
):
    service = through(webhook_gateway)
    result = service.send_notification("#web", "Disk *full* on db-1")
    assert (result.status_code, result.response_text) == (200, "ok")
    [request] = hooks_slack.requests
    assert request.method == "POST"
    assert request.path == webhooks["#web"]
    assert request.headers["host"] == "hooks.slack.com"
    assert request.json() == {"channel": "#web", "text": "Disk *full* on db-1"}
    # Only what Slack needs leaves the gateway: no routing header, no internal addresses.
    assert not {"x-slack-channel", "x-forwarded-for", "authorization"} & set(request.headers)
    # Django knows the internal endpoint and nothing else.
    assert webhook_gateway.endpoint == django_settings.SLACK_INTERNAL_ENDPOINT
    assert not [secret for secret in SECRETS if secret in settings_text()]


def test_each_channel_lands_on_its_own_webhook(through, webhook_gateway, hooks_slack, webhooks):
    service = through(webhook_gateway)
    for channel in ("#db", "#web", "#db", "#アラート"):
        service.send_notification(channel, f"to {channel}")
    assert [(r.path, r.json()["text"]) for r in hooks_slack.wait_for_requests(4)] == [
        (webhooks["#db"], "to #db"),
        (webhooks["#web"], "to #web"),
        (webhooks["#db"], "to #db"),
        (webhooks["#アラート"], "to #アラート"),
    ]


def test_an_unknown_channel_is_refused_when_there_is_no_default_webhook(
    through, webhook_gateway, hooks_slack
):
    service = through(webhook_gateway)
    with pytest.raises(SlackPermanentError) as refused:
        service.send_notification("#random", "nobody routes this")
    assert (refused.value.status_code, refused.value.error) == (404, "proxy_channel_not_routed")
    assert hooks_slack.requests == []


@pytest.mark.django_db
def test_a_test_send_to_an_unrouted_channel_names_the_gateway_and_the_fix(
    through, webhook_gateway, hooks_slack, admin_client
):
    from django.urls import reverse

    from tests.factories import RuleFactory

    through(webhook_gateway)
    rule = RuleFactory(slack_channel="#random")
    response = admin_client.post(
        reverse("django_slack_rules:rule-preview", args=[rule.pk]),
        {"labels": '{"alertname": "HighCPU"}', "annotations": "{}", "status": "firing", "send": ""},
        follow=True,  # the outcome is a message on the preview the send redirects to
    )
    content = response.content.decode()
    assert "proxy_channel_not_routed" in content
    assert "add the channel to the map in the gateway&#x27;s secrets file" in content
    assert hooks_slack.requests == []


def test_an_unknown_channel_goes_to_the_default_webhook_when_there_is_one(
    through, start_gateway, hooks_slack, certs
):
    routes = {"#web": new_webhook("WEB")}
    default = new_webhook("ALL")
    gateway = start_gateway(
        mode="webhook",
        slack=hooks_slack,
        ca_file=certs.ca_file,
        secrets=webhook_secrets(routes, default=default),
    )
    service = through(gateway)
    service.send_notification("#random", "caught by the default")
    service.send_notification("#web", "routed")
    assert [r.path for r in hooks_slack.wait_for_requests(2)] == [default, routes["#web"]]


def test_a_caller_outside_the_allow_list_gets_403_and_nothing_is_sent(
    through, webhook_gateway, hooks_slack
):
    through(webhook_gateway)
    body = json.dumps({"channel": "#web", "text": "from elsewhere"}).encode()
    headers = {"Content-Type": "application/json", "X-Slack-Channel": "#web"}
    outside = raw_request(webhook_gateway, "POST", "/slack-proxy/", body, headers, "127.0.0.2")
    assert outside == (403, "proxy_caller_not_allowed\n")
    inside = raw_request(webhook_gateway, "POST", "/slack-proxy/", body, headers, "127.0.0.1")
    assert inside == (200, "ok")
    assert len(hooks_slack.requests) == 1


def test_the_longest_message_the_package_sends_passes_the_body_limit(
    through, webhook_gateway, hooks_slack, webhooks, slack_rules
):
    slack_rules(MESSAGE_MAX_LENGTH=40_000)  # Slack's own limit, the highest allowed
    service = through(webhook_gateway)
    text = "🔥" * 50_000  # 12 bytes each once JSON-escaped; cut to 40,000 characters
    service.send_notification("#web", text)
    [request] = hooks_slack.wait_for_requests(1)
    assert request.path == webhooks["#web"]
    assert len(request.json()["text"]) == 40_000
    assert request.json()["text"].endswith("(message truncated)")


def test_only_a_post_to_the_slack_proxy_location_is_forwarded(
    through, webhook_gateway, hooks_slack, webhooks
):
    through(webhook_gateway)
    headers = {"X-Slack-Channel": "#web"}
    assert raw_request(webhook_gateway, "GET", "/slack-proxy/", headers=headers)[0] == 405
    # Incoming webhooks cannot update a message: webhook mode has no chat.update.
    assert raw_request(webhook_gateway, "POST", "/slack-proxy/chat.update", b"{}", headers) == (
        404,
        "proxy_unknown_path\n",
    )
    assert raw_request(webhook_gateway, "POST", "/slack-proxy/services/x", b"{}", headers)[0] == 404
    assert raw_request(webhook_gateway, "POST", "/", b"{}", headers)[0] == 404
    big = json.dumps({"channel": "#web", "text": "x" * 600_000}).encode()
    assert raw_request(webhook_gateway, "POST", "/slack-proxy/", big, headers) == (
        413,
        "proxy_body_too_large\n",
    )
    assert hooks_slack.requests == []
    # A query string does not reach Slack: the webhook path is the whole URI.
    assert raw_request(webhook_gateway, "POST", "/slack-proxy/?x=1", b"{}", headers)[0] == 200
    assert [r.path for r in hooks_slack.requests] == [webhooks["#web"]]


@pytest.mark.parametrize(
    ("answer", "error_class", "expected"),
    [
        ((404, "channel_not_found", {}), SlackPermanentError, (404, "channel_not_found", None)),
        ((410, "channel_is_archived", {}), SlackPermanentError, (410, "channel_is_archived", None)),
        ((403, "action_prohibited", {}), SlackPermanentError, (403, "action_prohibited", None)),
        ((500, "rollup_error", {}), SlackRetryableError, (500, "rollup_error", None)),
        ((503, "", {}), SlackRetryableError, (503, "", None)),
        (
            (429, "rate_limited", {"Retry-After": "7"}),
            SlackRateLimitedError,
            (429, "rate_limited", 7),
        ),
    ],
)
def test_slacks_own_answers_pass_through_nginx_and_are_classified(
    through, webhook_gateway, hooks_slack, answer, error_class, expected
):
    service = through(webhook_gateway)
    status, body, headers = answer
    hooks_slack.queue_response(status, body, headers=headers)
    with pytest.raises(error_class) as failed:
        service.send_notification("#web", "hello")
    error = failed.value
    assert type(error) is error_class
    assert (error.status_code, error.error, getattr(error, "retry_after", None)) == expected
    assert len(hooks_slack.requests) == 1


def test_nginx_own_429_has_no_retry_after_and_is_a_rate_limit_to_back_off_from(
    through, start_gateway, hooks_slack, certs
):
    gateway = start_gateway(
        mode="webhook",
        slack=hooks_slack,
        ca_file=certs.ca_file,
        secrets=webhook_secrets({"#web": new_webhook("WEB")}),
        rate="1r/m",
        burst=0,
    )
    service = through(gateway)
    service.send_notification("#web", "first")
    with pytest.raises(SlackRateLimitedError) as limited:
        service.send_notification("#web", "second")
    assert (limited.value.status_code, limited.value.retry_after) == (429, None)
    assert limited.value.error == "proxy_rate_limited"
    assert [r.json()["text"] for r in hooks_slack.requests] == ["first"]
    # nginx writes the line just after answering.
    wait_until(
        lambda: [line for line in gateway.access_log_lines() if "status=429" in line],
        what="the 429 in the access log",
    )


def test_the_default_limit_is_per_channel_and_lets_the_package_pace_through(
    through, start_gateway, hooks_slack, certs
):
    """render.py's defaults: each channel has its own bucket (1r/s, burst 5), above the
    package's own pace (1/s, bursts of CHANNEL_BURST = 3). Three channels bursting at once
    all get through; only a sender that does not pace one channel meets the backstop."""
    channels = ["#web", "#db", "#ops"]
    gateway = start_gateway(
        mode="webhook",
        slack=hooks_slack,
        ca_file=certs.ca_file,
        secrets=webhook_secrets(
            {channel: new_webhook(channel[1:].upper()) for channel in channels}
        ),
    )
    service = through(gateway)
    for channel in channels:
        for n in range(3):  # the package's burst on each channel, at once
            service.send_notification(channel, f"{channel} {n}")
    assert len(hooks_slack.requests) == 9
    with pytest.raises(SlackRateLimitedError) as limited:  # an unpaced flood on one channel
        for n in range(3, 10):
            service.send_notification("#web", f"#web {n}")
    assert limited.value.error == "proxy_rate_limited"


def test_a_refused_caller_uses_none_of_the_rate_limit(through, start_gateway, hooks_slack, certs):
    gateway = start_gateway(
        mode="webhook",
        slack=hooks_slack,
        ca_file=certs.ca_file,
        secrets=webhook_secrets({"#web": new_webhook("WEB")}),
        rate="1r/m",
        burst=0,
    )
    service = through(gateway)
    body = json.dumps({"channel": "#web", "text": "flood"}).encode()
    for _ in range(3):
        status, _ = raw_request(
            gateway, "POST", "/slack-proxy/", body, {"X-Slack-Channel": "#web"}, "127.0.0.2"
        )
        assert status == 403
    service.send_notification("#web", "still gets through")
    assert [r.json()["text"] for r in hooks_slack.requests] == ["still gets through"]


def test_the_check_location_reaches_slack_without_a_secret(through, webhook_gateway, hooks_slack):
    through(webhook_gateway)
    assert raw_request(webhook_gateway, "GET", "/slack-proxy/check") == (200, "ok")
    [request] = hooks_slack.requests
    assert (request.method, request.path, request.headers["host"]) == (
        "GET",
        "/",
        "hooks.slack.com",
    )


# -- TLS -------------------------------------------------------------------------


def test_a_slack_whose_certificate_comes_from_another_ca_is_refused(
    through, start_gateway, certs, webhooks
):
    # The same names, another CA.
    with (
        SlackCertificates() as impostor_certs,
        FakeSlack(ssl_context=impostor_certs.server_context()) as impostor,
    ):
        gateway = start_gateway(
            mode="webhook",
            slack=impostor,
            ca_file=certs.ca_file,
            secrets=webhook_secrets(webhooks),
        )
        service = through(gateway)
        with pytest.raises(SlackRetryableError) as failed:
            service.send_notification("#web", "must not reach an impostor")
        assert (failed.value.status_code, failed.value.error) == (502, "proxy_upstream_failed")
        # The secret-free check says why, in the error log.
        assert raw_request(gateway, "GET", "/slack-proxy/check")[0] == 502
        assert impostor.requests == []
    reason = "upstream SSL certificate verify error: (20:unable to get local issuer certificate)"
    wait_until(lambda: reason in gateway.error_log.read_text(), what="the check's error line")


# -- bot mode ----------------------------------------------------------------------


def test_bot_mode_adds_the_token_and_posts_to_chat_post_message_only(
    through, bot_gateway, api_slack, bot_token
):
    service = through(bot_gateway)
    api_slack.queue_response(
        200,
        json.dumps({"ok": True, "channel": "C0WEB", "ts": "1712345678.123456"}),
        content_type="application/json",
    )
    result = service.send_notification("#web", "from the bot")
    [request] = api_slack.requests
    assert (request.method, request.path) == ("POST", "/api/chat.postMessage")
    assert request.headers["host"] == "slack.com"
    assert request.headers["authorization"] == f"Bearer {bot_token}"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.json() == {"channel": "#web", "text": "from the bot"}
    assert result.ts == "1712345678.123456"
    assert not [secret for secret in SECRETS if secret in settings_text()]


def test_bot_mode_updates_a_message_through_chat_update_with_the_token(
    through, bot_gateway, api_slack, bot_token
):
    service = through(bot_gateway)
    posted = service.send_notification("#web", "firing")
    channel = posted.channel_id
    assert channel == api_slack.channel_id("#web")
    result = service.update_message(channel, posted.ts, "resolved", payload={"blocks": []})
    _, update = api_slack.requests
    assert (update.method, update.path) == ("POST", "/api/chat.update")
    assert update.headers["host"] == "slack.com"
    assert update.headers["authorization"] == f"Bearer {bot_token}"
    assert update.json() == {"channel": channel, "ts": posted.ts, "text": "resolved", "blocks": []}
    assert (result.ts, result.channel_id) == (posted.ts, channel)
    [message] = api_slack.messages("#web")
    assert (message.text, message.edits) == ("resolved", [("firing", None)])
    # Slack's refusal passes through and is classified.
    with pytest.raises(SlackPermanentError) as refused:
        service.update_message(channel, "1.000009", "resolved")
    assert refused.value.error == "message_not_found"
    assert raw_request(bot_gateway, "GET", "/slack-proxy/chat.update")[0] == 405


def test_bot_mode_relays_no_other_api_method(through, bot_gateway, api_slack):
    through(bot_gateway)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer xoxb-caller"}
    for path in (
        "/slack-proxy/users.list",
        "/slack-proxy/../api/chat.delete",
        "/api/chat.delete",
        "/slack-proxy/chat.delete",
        "/slack-proxy/chat.update/",
        "/slack-proxy/chat.updateX",
        "/slack-proxy/chat.update/../chat.delete",
    ):
        status, _ = raw_request(bot_gateway, "POST", path, b"{}", headers)
        assert status == 404, path
    # A query string does not reach Slack, and a caller's Authorization is replaced.
    assert (
        raw_request(bot_gateway, "POST", "/slack-proxy/?method=users.list", b"{}", headers)[0]
        == 200
    )
    [request] = api_slack.requests
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] != "Bearer xoxb-caller"


@pytest.mark.parametrize(
    ("answer", "error_class", "expected"),
    [
        ((200, "channel_not_found", {}), SlackPermanentError, (200, "channel_not_found", None)),
        ((200, "invalid_auth", {}), SlackPermanentError, (200, "invalid_auth", None)),
        ((200, "internal_error", {}), SlackRetryableError, (200, "internal_error", None)),
        (
            (429, "ratelimited", {"Retry-After": "30"}),
            SlackRateLimitedError,
            (429, "ratelimited", 30),
        ),
        ((500, "fatal_error", {}), SlackRetryableError, (500, "fatal_error", None)),
    ],
)
def test_web_api_answers_pass_through_nginx_and_are_classified(
    through, bot_gateway, api_slack, answer, error_class, expected
):
    service = through(bot_gateway)
    status, error, headers = answer
    api_slack.queue_response(
        status,
        json.dumps({"ok": False, "error": error}),
        headers=headers,
        content_type="application/json",
    )
    with pytest.raises(error_class) as failed:
        service.send_notification("#web", "hello")
    assert type(failed.value) is error_class
    got = (failed.value.status_code, failed.value.error, getattr(failed.value, "retry_after", None))
    assert got == expected


@pytest.mark.django_db
def test_bot_mode_records_the_message_ts_on_the_delivery(through, bot_gateway, api_slack):
    through(bot_gateway)
    rule = RuleFactory(name="db", match_criteria={"team": "db"}, slack_channel="#db")
    alert = AlertInstanceFactory(alert_group__labels={"alertname": "DiskFull", "team": "db"})
    api_slack.queue_response(
        200,
        json.dumps({"ok": True, "channel": "C0DB", "ts": "1712345678.000200"}),
        content_type="application/json",
    )
    state = process_slack_for_alert_group.apply(args=(alert.alert_group.pk, rule.pk)).get()
    assert state == DeliveryState.SENT
    delivery = SlackDelivery.objects.get()
    assert (delivery.channel, delivery.message_ts) == ("#db", "1712345678.000200")
    assert api_slack.requests[0].json()["channel"] == "#db"


# -- a burst through a real Celery worker -------------------------------------------


@pytest.fixture(scope="module")
def burst_webhook() -> str:
    return new_webhook("BURST")


@pytest.fixture(scope="module")
def burst_gateway(start_gateway, hooks_slack, certs, burst_webhook) -> NginxGateway:
    """1 message per second and no burst: stricter than the package's own pace of the
    channel (bursts of SLACK_RULES["CHANNEL_BURST"] = 3), so nginx answers 429."""
    return start_gateway(
        mode="webhook",
        slack=hooks_slack,
        ca_file=certs.ca_file,
        secrets=webhook_secrets({"#ops": burst_webhook}),
        rate="1r/s",
        burst=0,
    )


@pytest.fixture(scope="module")
def nginx_worker(django_db_setup, django_db_blocker, burst_gateway, tmp_path_factory):
    """A real ``celery worker`` whose SLACK_INTERNAL_ENDPOINT is the gateway."""
    queue = f"dsr-nginx-{uuid.uuid4().hex[:12]}"
    with worker_on_queue(
        queue,
        endpoint=burst_gateway.endpoint,
        django_db_blocker=django_db_blocker,
        log_dir=tmp_path_factory.mktemp("nginx-worker"),
    ) as log:
        yield queue, log


@pytest.mark.django_db(transaction=True)
def test_a_burst_over_the_limit_is_retried_until_each_message_is_delivered_once(
    settings, nginx_worker, burst_gateway, hooks_slack, burst_webhook
):
    queue, worker_log = nginx_worker
    hooks_slack.reset()
    settings.SLACK_RULES = {**settings.SLACK_RULES, "QUEUE": queue}
    settings.SLACK_INTERNAL_ENDPOINT = burst_gateway.endpoint
    RuleFactory(
        name="ops",
        match_criteria={"team": "ops"},
        slack_channel="#ops",
        message_template="{{ alertname }} on {{ instance }}",
    )
    count = 6
    with transaction.atomic():
        for n in range(count):
            instance = AlertInstanceFactory(
                alert_group__labels={"alertname": "Down", "team": "ops"},
                alert_group__instance=f"host-{n}",
            )
            alert_processed.send(
                sender=AlertGroup,
                alert_group=instance.alert_group,
                instance=instance,
                status="firing",
            )
    sent = wait_until(
        lambda: SlackDelivery.objects.filter(state=DeliveryState.SENT).count() == count,
        what=f"{count} sent deliveries",
    )
    assert sent
    requests = hooks_slack.wait_for_requests(count)
    # Exactly once each, all to the channel's webhook.
    assert sorted(r.json()["text"] for r in requests) == [f"Down on host-{n}" for n in range(count)]
    assert {r.path for r in requests} == {burst_webhook}
    # nginx held some back with its own 429, and the task retried them.
    limited = [line for line in burst_gateway.access_log_lines() if "status=429" in line]
    assert limited, burst_gateway.access_log_lines()
    # Waiting out a rate limit used no attempt: each was sent at its first counted one.
    assert set(SlackDelivery.objects.values_list("attempts", flat=True)) == {1}
    assert "proxy_rate_limited" in worker_log.read_text()
    assert "this attempt is not counted" in worker_log.read_text()


# -- bot mode end to end: a real worker, a thread reply and the original updated ----------


@pytest.fixture(scope="module")
def bot_worker(django_db_setup, django_db_blocker, bot_gateway, tmp_path_factory):
    """A real ``celery worker`` in bot mode whose SLACK_INTERNAL_ENDPOINT is the bot gateway."""
    queue = f"dsr-bot-{uuid.uuid4().hex[:12]}"
    with worker_on_queue(
        queue,
        endpoint=bot_gateway.endpoint,
        django_db_blocker=django_db_blocker,
        log_dir=tmp_path_factory.mktemp("bot-worker"),
        gateway_mode="bot",
    ) as log:
        yield queue, log


BOT_BLOCKS = """[
  {"type": "header", "text": {"type": "plain_text", "text": "{{ alertname }}: {{ status }}"}},
  {"type": "section", "text": {"type": "mrkdwn", "text": "{{ summary }}"}}
]"""


@pytest.mark.django_db(transaction=True)
def test_bot_mode_end_to_end_the_resolution_replies_in_the_thread_and_updates_the_original(
    settings, slack_rules, bot_worker, bot_gateway, api_slack, bot_token
):
    queue, worker_log = bot_worker
    api_slack.reset()
    slack_rules(QUEUE=queue, GATEWAY_MODE="bot")
    settings.SLACK_INTERNAL_ENDPOINT = bot_gateway.endpoint
    RuleFactory(
        name="db",
        match_criteria={"team": "db"},
        slack_channel="#db",
        message_template=":red_circle: {{ alertname }} is firing",
        resolved_message_template=":large_green_circle: {{ alertname }} is resolved",
        resolve_action="update_and_reply",
        blocks_template=BOT_BLOCKS,
    )
    instance = AlertInstanceFactory(
        alert_group__labels={"alertname": "DiskFull", "team": "db"},
        annotations={"summary": "Disk 95% full"},
    )
    group = instance.alert_group
    with transaction.atomic():
        alert_processed.send(
            sender=AlertGroup, alert_group=group, instance=instance, status="firing"
        )
    # Resolved at once: the worker may not have sent the firing message yet.
    with transaction.atomic():
        group.current_status = instance.status = "resolved"
        group.save()
        instance.save()
        alert_processed.send(
            sender=AlertGroup, alert_group=group, instance=instance, status="resolved"
        )
    wait_until(
        lambda: SlackDelivery.objects.filter(state=DeliveryState.SENT).count() == 3,
        what="the firing message, the thread reply and the update, sent",
    )

    post, reply, update = api_slack.wait_for_requests(3)
    channel = api_slack.channel_id("#db")
    [original] = api_slack.messages("#db")
    assert post.path == reply.path == "/api/chat.postMessage"
    assert post.json()["channel"] == "#db"
    assert reply.json()["channel"] == channel
    assert reply.json()["thread_ts"] == original.ts
    assert update.path == "/api/chat.update"
    assert (update.json()["channel"], update.json()["ts"]) == (channel, original.ts)
    assert {r.headers["authorization"] for r in (post, reply, update)} == {f"Bearer {bot_token}"}
    # The original now shows the resolved rendering; the thread holds the resolution.
    assert original.text == ":large_green_circle: DiskFull is resolved"
    assert original.blocks[0]["text"]["text"] == "DiskFull: resolved"
    assert original.edits[0][0] == ":red_circle: DiskFull is firing"
    [in_thread] = api_slack.replies("#db", original.ts)
    assert in_thread.text == ":large_green_circle: DiskFull is resolved"
    # The records: Slack's ts and channel id on the firing message; replies point at it.
    firing = SlackDelivery.objects.get(alert_status="firing")
    assert (firing.message_ts, firing.channel_id, firing.action) == (original.ts, channel, "post")
    followups = {d.action: d for d in SlackDelivery.objects.filter(parent=firing)}
    assert set(followups) == {"reply", "update"}
    assert followups["reply"].thread_ts == original.ts
    assert followups["reply"].message_ts == in_thread.ts
    assert followups["update"].message_ts == original.ts
    assert all(d.attempts == 1 for d in SlackDelivery.objects.all())
    assert "chat.update" not in worker_log.read_text()  # the worker logs no endpoint path


# -- last: the logs ------------------------------------------------------------------


def test_no_log_file_contains_a_secret(through, start_gateway, certs, logs_root, bot_token):
    """After every failure the gateway can meet, its logs hold no webhook path and no token.

    nginx's error lines about an upstream print its URL, the webhook path: the
    shipped config keeps them out of the logs. This test meets each failure here
    (so it proves something when run alone), then reads every log of the module.
    """
    routes = {"#web": new_webhook("WEB")}
    closed_port = free_port()
    unreachable = start_gateway(
        mode="webhook",
        slack_address=f"127.0.0.1:{closed_port}",
        ca_file=certs.ca_file,
        secrets=webhook_secrets(routes),
    )
    with pytest.raises(SlackRetryableError):
        through(unreachable).send_notification("#web", "connection refused")
    with (
        SlackCertificates() as impostor_certs,
        FakeSlack(ssl_context=impostor_certs.server_context()) as impostor,
        FakeSlack() as plain,
    ):
        for upstream in (impostor, plain):  # wrong CA; not TLS at all
            gateway = start_gateway(
                mode="webhook",
                slack=upstream,
                ca_file=certs.ca_file,
                secrets=webhook_secrets(routes),
            )
            with pytest.raises(SlackRetryableError):
                through(gateway).send_notification("#web", "TLS fails")
    with FakeSlack(ssl_context=certs.server_context()) as slow:
        gateway = start_gateway(
            mode="webhook",
            slack=slow,
            ca_file=certs.ca_file,
            secrets=webhook_secrets(routes),
            read_timeout="1s",
        )
        slow.respond_slow(5)
        with pytest.raises(SlackRetryableError) as timed_out:
            through(gateway).send_notification("#web", "too slow")
        assert timed_out.value.status_code == 504
    with FakeSlack(ssl_context=certs.server_context(), api_mode=True) as api:
        bot = start_gateway(
            mode="bot", slack=api, ca_file=certs.ca_file, secrets=bot_secrets(bot_token), burst=0
        )
        api.respond_api_error("invalid_auth")
        service = through(bot)
        with pytest.raises(SlackPermanentError):
            service.send_notification("#web", "bad token")
        with pytest.raises(SlackRateLimitedError):
            service.send_notification("#web", "over the limit")
        raw_request(bot, "POST", "/slack-proxy/", b"{}", source="127.0.0.2")

    assert len(list(logs_root.rglob("slack-proxy.access.log"))) >= 5
    assert leaked_secrets(logs_root) == {}
    # ...while the access log still says what happened.
    [refused] = unreachable.access_log_lines()
    assert 'channel="#web"' in refused
    assert "status=502" in refused
    assert "upstream_connect_time=-" in refused
