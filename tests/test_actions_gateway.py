"""Clicks from Slack through real nginx to the view, and back to Slack through the gateway.

Slack (the test) posts signed ``block_actions`` payloads, as Slack builds them, to the
shipped public location (``deploy/nginx/sentryhub_slack_actions.conf``) in front of the
live Django server; the action's task runs (eagerly, once the answer is sent) and asks
Slack, through the shipped bot-mode gateway, who clicked (``users.info``), then updates the
message (``chat.update``) or answers the clicker alone (``chat.postEphemeral``). The host
is SentryHub-shaped (``tests/alerts``). Only Slack is fake.
"""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from django_slack_rules.models import SlackAction, SlackIntegrationRule, SlackUserLink
from tests.actions_support import (
    SIGNING_SECRET,
    firing_alert,
    host_user,
    rule_with_buttons,
    send_with_buttons,
)
from tests.alerts.models import AlertAcknowledgementHistory, AlertGroup, SilenceRule
from tests.fake_slack import FakeSlack
from tests.nginx_actions import ActionsGateway, RenderError, render_actions
from tests.nginx_gateway import NginxGateway, SlackCertificates, bot_secrets, nginx_test
from tests.processes import wait_until
from tests.slack_clicks import BOB, Click, post, sign
from tests.utils import fire

pytestmark = [pytest.mark.nginx, pytest.mark.django_db(transaction=True)]

BOT_TOKEN = "xoxb-actions-" + os.urandom(8).hex()


@pytest.fixture(scope="module")
def certs() -> Iterator[SlackCertificates]:
    with SlackCertificates() as certificates:
        yield certificates


@pytest.fixture(scope="module")
def api_slack(certs) -> Iterator[FakeSlack]:
    with FakeSlack(ssl_context=certs.server_context(), api_mode=True) as slack:
        yield slack


@pytest.fixture(scope="module")
def bot_gateway(api_slack, certs) -> Iterator[NginxGateway]:
    with NginxGateway(
        mode="bot", slack=api_slack, ca_file=certs.ca_file, secrets=bot_secrets(BOT_TOKEN), burst=50
    ) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def actions_gateway(live_server) -> Iterator[ActionsGateway]:
    with ActionsGateway(upstream=upstream(live_server)) as gateway:
        yield gateway


def upstream(live_server) -> str:
    """The live server by address: nginx never retries a POST, so not on ::1 first."""
    return live_server.url.replace("localhost", "127.0.0.1")


@pytest.fixture
def slack(settings, api_slack, bot_gateway, eager, tmp_path) -> FakeSlack:
    """Bot mode through the gateway, the signing secret in a file, Alice in Slack."""
    api_slack.reset()
    secret_file = tmp_path / "slack-signing-secret"
    secret_file.write_text(SIGNING_SECRET + "\n")
    secret_file.chmod(0o600)
    settings.SLACK_INTERNAL_ENDPOINT = bot_gateway.endpoint
    settings.SLACK_RULES = {
        **settings.SLACK_RULES,
        "GATEWAY_MODE": "bot",
        "SIGNING_SECRET_FILE": str(secret_file),
        "SITE_URL": "https://alerts.example.com",
    }
    api_slack.add_user("U0ALICE", email="Alice@Example.com", name="alice")
    return api_slack


def send(gateway: ActionsGateway, click: Click, secret: str = SIGNING_SECRET, **kwargs):
    """Post ``click`` signed with ``secret`` now (or at ``timestamp=``): the status and body."""
    return post(gateway.actions_url, click.body(), click.headers(secret, **kwargs))


def our_elements(message) -> list[str]:
    return [
        element["action_id"]
        for block in message.blocks or []
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def settled(state: str) -> SlackAction:
    return wait_until(
        lambda: SlackAction.objects.filter(state=state).exclude(notice_state="pending").first(),
        what=f"an action {state} and Slack told",
    )


def test_a_click_acknowledges_the_alert_once_as_the_clicker_and_the_message_says_so(
    slack, actions_gateway
):
    alice = host_user("alice")
    alert, instance = firing_alert()
    delivery = send_with_buttons(rule_with_buttons(), alert, instance)
    message = slack.message(delivery.channel_id, delivery.message_ts)
    assert our_elements(message) == ["dsr_acknowledge", "dsr_silence", "dsr_open"]

    click = Click.on(message, "acknowledge")
    headers = click.headers(SIGNING_SECRET)
    started = time.monotonic()
    status, _ = post(actions_gateway.actions_url, click.body(), headers)
    assert (status, time.monotonic() - started < 3) == (200, True)
    action = settled("done")
    assert (action.user, action.delivery, action.notice_state) == (alice, delivery, "sent")

    # In SentryHub's history, like an acknowledgement from its own page.
    alert.refresh_from_db()
    assert (alert.acknowledged, alert.acknowledged_by) == (True, alice)
    [history] = AlertAcknowledgementHistory.objects.all()
    assert (history.acknowledged_by, history.alert_instance) == (alice, instance)
    assert history.comment == "Acknowledged from Slack by @alice."
    # Found by the email Slack has for her (users.info, through the gateway), remembered.
    link = SlackUserLink.objects.get(slack_user_id="U0ALICE")
    assert (link.user, link.source, link.email) == (alice, "email", "Alice@Example.com")
    [lookup] = [r for r in slack.requests if r.path == "/api/users.info"]
    assert lookup.headers["authorization"] == f"Bearer {BOT_TOKEN}"

    # The message: the used button is gone, and it says who acknowledged it.
    message = slack.message(delivery.channel_id, delivery.message_ts)
    assert our_elements(message) == ["dsr_silence", "dsr_open"]
    assert message.text == delivery.text
    said = message.blocks[-1]["elements"][0]["text"]
    assert said.startswith(":white_check_mark: Acknowledged by <@U0ALICE> at <!date^")

    # The same request again (a replay) is refused, and acts no second time.
    assert post(actions_gateway.actions_url, click.body(), headers)[0] == 401
    assert AlertAcknowledgementHistory.objects.count() == SlackAction.objects.count() == 1


def test_a_double_click_acts_once(slack, actions_gateway):
    host_user("alice")
    alert, instance = firing_alert()
    delivery = send_with_buttons(rule_with_buttons(), alert, instance)
    message = slack.message(delivery.channel_id, delivery.message_ts)
    first, second = Click.on(message, "acknowledge"), Click.on(message, "acknowledge")
    assert send(actions_gateway, first)[0] == send(actions_gateway, second)[0] == 200
    settled("done")
    assert AlertAcknowledgementHistory.objects.count() == 1
    assert sorted(SlackAction.objects.values_list("state", flat=True)) == ["done", "duplicate"]


def test_a_silence_from_slack_is_a_silence_rule_and_the_next_firing_sends_nothing(
    slack, actions_gateway
):
    alice = host_user("alice")
    alert, instance = firing_alert(instance="web-7:9100")
    rule = rule_with_buttons()
    delivery = send_with_buttons(rule, alert, instance)
    message = slack.message(delivery.channel_id, delivery.message_ts)
    click = Click.on(message, "silence", option="3600")
    assert send(actions_gateway, click)[0] == 200
    action = settled("done")

    [silence] = SilenceRule.objects.all()
    assert silence.matchers == alert.labels
    assert silence.created_by == alice
    assert abs((silence.ends_at - action.clicked_at).total_seconds() - 3600) < 1
    assert silence.comment == "Silenced from Slack by @alice for 1 hour."
    alert.refresh_from_db()
    assert (alert.is_silenced, alert.silenced_until) == (True, silence.ends_at)
    message = slack.message(delivery.channel_id, delivery.message_ts)
    assert our_elements(message) == ["dsr_acknowledge", "dsr_open"]
    assert message.blocks[-1]["elements"][0]["text"].startswith(
        ":no_bell: Silenced by <@U0ALICE> until <!date^"
    )

    # The alert fires again (a new occurrence, read from the database as the host does).
    requests_before = len(slack.requests)
    again = type(instance).objects.create(
        alert_group=alert, status="firing", started_at=action.clicked_at, annotations={}
    )
    fire(AlertGroup.objects.get(pk=alert.pk), again)
    assert len(slack.requests) == requests_before
    assert rule.deliveries.count() == 1


def assert_nothing_changed(alert) -> None:
    alert.refresh_from_db()
    assert not alert.acknowledged
    assert not AlertAcknowledgementHistory.objects.exists()
    assert not SilenceRule.objects.exists()


def test_a_request_not_signed_by_slack_is_refused_and_changes_nothing(slack, actions_gateway):
    host_user("alice")
    alert, instance = firing_alert()
    delivery = send_with_buttons(rule_with_buttons(), alert, instance)
    click = Click.on(slack.message(delivery.channel_id, delivery.message_ts), "acknowledge")
    assert send(actions_gateway, click, secret="not-the-signing-secret")[0] == 401
    # Signed right, but the body was changed on the way.
    headers = click.headers(SIGNING_SECRET)
    status, _ = post(
        actions_gateway.actions_url, click.body().replace(b"U0ALICE", b"U0BOB"), headers
    )
    assert status == 401
    assert post(actions_gateway.actions_url, click.body(), {})[0] == 401  # no signature at all
    assert not SlackAction.objects.exists()
    assert_nothing_changed(alert)


def test_a_stale_timestamp_is_refused_even_when_signed_right(slack, actions_gateway):
    host_user("alice")
    alert, instance = firing_alert()
    delivery = send_with_buttons(rule_with_buttons(), alert, instance)
    click = Click.on(slack.message(delivery.channel_id, delivery.message_ts), "acknowledge")
    six_minutes_ago = int(time.time()) - 6 * 60
    assert send(actions_gateway, click, timestamp=six_minutes_ago)[0] == 401
    assert send(actions_gateway, click, timestamp=int(time.time()) + 6 * 60)[0] == 401
    assert not SlackAction.objects.exists()
    assert_nothing_changed(alert)


def test_an_unknown_action_is_answered_to_the_clicker_and_changes_nothing(slack, actions_gateway):
    host_user("alice")
    alert, instance = firing_alert()
    delivery = send_with_buttons(rule_with_buttons(), alert, instance)
    click = Click.raw(
        delivery.channel_id, delivery.message_ts, delivery.idempotency_key, "deploy_now"
    )
    assert send(actions_gateway, click)[0] == 200
    action = settled("refused")
    assert (action.action, action.action_id) == ("unknown", "deploy_now")
    [answer] = slack.ephemerals()
    assert (answer.user, answer.channel) == ("U0ALICE", delivery.channel_id)
    assert "deploy_now" in answer.text
    assert "is not one django-slack-rules offers" in answer.text
    assert_nothing_changed(alert)


def test_an_unmapped_user_is_told_why_and_how_to_fix_it(slack, actions_gateway):
    host_user("alice")
    slack.add_user(BOB.id, email="bob@elsewhere.example", name="bob")
    alert, instance = firing_alert()
    delivery = send_with_buttons(rule_with_buttons(), alert, instance)
    message = slack.message(delivery.channel_id, delivery.message_ts)
    assert send(actions_gateway, Click.on(message, "acknowledge", user=BOB))[0] == 200
    action = settled("refused")
    [answer] = slack.ephemerals()
    assert answer.user == BOB.id
    assert "No SentryHub user has your email address (bob@elsewhere.example)" in answer.text
    assert "ask an admin to link you (Django admin → Slack rules → Slack user links)" in answer.text
    assert action.reason in answer.text
    # An admin can link him: his row is there, without a user.
    link = SlackUserLink.objects.get(slack_user_id=BOB.id)
    assert (link.user, link.email) == (None, "bob@elsewhere.example")
    # The message keeps its buttons: another click may still act.
    assert "dsr_acknowledge" in our_elements(
        slack.message(delivery.channel_id, delivery.message_ts)
    )
    assert_nothing_changed(alert)


def test_a_user_without_permission_is_told_why_and_changes_nothing(slack, actions_gateway):
    host_user("alice", is_active=False)
    alert, instance = firing_alert()
    delivery = send_with_buttons(rule_with_buttons(), alert, instance)
    message = slack.message(delivery.channel_id, delivery.message_ts)
    assert send(actions_gateway, Click.on(message, "silence", option="14400"))[0] == 200
    settled("refused")
    [answer] = slack.ephemerals()
    assert "Your SentryHub user alice may not silence this alert (the account is inactive)" in (
        answer.text
    )
    assert_nothing_changed(alert)


def test_a_button_the_rule_no_longer_offers_does_nothing(slack, actions_gateway):
    host_user("alice")
    alert, instance = firing_alert()
    rule = rule_with_buttons()
    delivery = send_with_buttons(rule, alert, instance)
    SlackIntegrationRule.objects.filter(pk=rule.pk).update(actions=["open"])
    message = slack.message(delivery.channel_id, delivery.message_ts)
    assert send(actions_gateway, Click.on(message, "acknowledge"))[0] == 200
    settled("refused")
    [answer] = slack.ephemerals()
    assert "no longer offers Acknowledge" in answer.text
    assert_nothing_changed(alert)


def test_the_public_location_forwards_only_posts_to_the_view(slack, actions_gateway):
    url = actions_gateway.url
    assert post(f"{url}/slack/", b"", {})[0] == 404
    assert post(f"{url}/slack/actions/x", b"", {})[0] == 404
    assert post(f"{url}/admin/login/", b"", {})[0] == 404
    body = b"payload=" + b"x" * (1024 * 1024 + 1)
    assert post(actions_gateway.actions_url, body, sign(body, SIGNING_SECRET))[0] == 413
    with pytest.raises(urllib.error.HTTPError) as got:
        urllib.request.urlopen(actions_gateway.actions_url, timeout=5)
    got.value.close()
    assert got.value.code == 405
    assert not SlackAction.objects.exists()


def test_a_client_over_the_rate_limit_gets_429_before_django(slack, live_server, tmp_path):
    with ActionsGateway(
        upstream=upstream(live_server), rate="1r/m", burst=2, workdir=tmp_path
    ) as gateway:
        statuses = [post(gateway.actions_url, b"payload=%7B%7D", {})[0] for _ in range(4)]
        # nginx logs a request once it has answered it: wait for the fourth line.
        lines = wait_until(
            lambda: len(gateway.access_log_lines()) == 4 and gateway.access_log_lines(),
            10,
            "nginx to log the four requests",
        )
    assert statuses == [401, 401, 401, 429], lines
    assert [line.split("upstream_status=")[1].split()[0] for line in lines] == ["401"] * 3 + ["-"]


def test_the_logs_hold_no_signature_and_no_payload(slack, actions_gateway):
    host_user("alice")
    alert, instance = firing_alert()
    delivery = send_with_buttons(rule_with_buttons(), alert, instance)
    click = Click.on(slack.message(delivery.channel_id, delivery.message_ts), "acknowledge")
    headers = click.headers(SIGNING_SECRET)
    assert post(actions_gateway.actions_url, click.body(), headers)[0] == 200
    settled("done")
    for secret in (headers["X-Slack-Signature"], SIGNING_SECRET, click.trigger_id, BOT_TOKEN):
        assert actions_gateway.logs_containing(secret) == []
    assert Path(actions_gateway.access_log).read_text().count("POST /slack/actions/") >= 1


# -- rendering the public location ---------------------------------------------------------


def test_the_public_location_renders_for_tls_or_behind_a_tls_proxy_and_nginx_accepts_both(
    tmp_path,
):
    import trustme

    leaf = trustme.CA().issue_cert("alerts.example.com")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    common = {
        "server_name": "alerts.example.com",
        "upstream": "http://10.0.0.11:8000",
        "log_dir": str(tmp_path / "logs"),
    }
    tls = render_actions(
        listen="127.0.0.1:8443", certificate=str(cert), certificate_key=str(key), **common
    )
    plain = render_actions(listen="127.0.0.1:8080", **common)
    assert "listen 127.0.0.1:8443 ssl;" in tls
    assert f"ssl_certificate {cert};" in tls
    assert "ssl" not in plain.replace("Slack posts to https", "")
    for name, config in (("tls", tls), ("plain", plain)):
        workdir = tmp_path / name
        (workdir / "logs").mkdir(parents=True)
        checked = nginx_test(config.replace(common["log_dir"], str(workdir / "logs")), workdir)
        assert checked.returncode == 0, checked.stderr
    assert "location = /slack/actions/ {" in plain
    assert "proxy_pass http://10.0.0.11:8000/slack/actions/;" in plain


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("path", "slack/actions", "starting and ending with /"),
        ("path", "/slack/actions/;", "starting and ending with /"),
        ("upstream", "10.0.0.11:8000", "SCHEME://HOST:PORT"),
        ("upstream", "http://10.0.0.11:8000/slack/", "SCHEME://HOST:PORT"),
        ("certificate", "/etc/ssl/cert.pem", "both --certificate and --certificate-key"),
        ("body_limit", "1g", "body-limit"),
        ("server_name", "alerts example", "server-name"),
        ("rate", "5/s", "rate"),
    ],
)
def test_the_public_location_refuses_values_that_would_break_or_widen_it(option, value, message):
    options = {
        "listen": "127.0.0.1:8080",
        "server_name": "alerts.example.com",
        "upstream": "http://10.0.0.11:8000",
        option: value,
    }
    with pytest.raises(RenderError, match=re.escape(message)):
        render_actions(**options)
