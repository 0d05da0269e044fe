"""Slack hears back within its three seconds while the broker is down, and the click is
done once the broker is back: a private Redis is stopped for the click, then started
again, and a real Celery worker does the action after recovery queues it.

Through real nginx (the public location and the bot-mode gateway) to the live server;
only Slack is fake.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from django.db import connection

from django_slack_rules.action_tasks import recover_actions
from django_slack_rules.models import SlackAction
from tests.actions_support import (
    SIGNING_SECRET,
    firing_alert,
    host_user,
    rule_with_buttons,
    send_with_buttons,
)
from tests.alerts.models import AlertAcknowledgementHistory
from tests.celery_app import app
from tests.fake_slack import FakeSlack
from tests.nginx_actions import ActionsGateway
from tests.nginx_gateway import NginxGateway, SlackCertificates, bot_secrets
from tests.processes import celery_worker, wait_until
from tests.redis_server import RedisServer
from tests.slack_clicks import Click, post

pytestmark = [pytest.mark.e2e, pytest.mark.nginx, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def certs() -> Iterator[SlackCertificates]:
    with SlackCertificates() as certificates:
        yield certificates


@pytest.fixture
def api_slack(certs) -> Iterator[FakeSlack]:
    with FakeSlack(ssl_context=certs.server_context(), api_mode=True) as slack:
        yield slack


@pytest.fixture
def gateways(api_slack, certs, live_server) -> Iterator[tuple[NginxGateway, ActionsGateway]]:
    upstream = live_server.url.replace("localhost", "127.0.0.1")
    with (
        NginxGateway(
            mode="bot", slack=api_slack, ca_file=certs.ca_file, secrets=bot_secrets("xoxb-broker")
        ) as bot,
        ActionsGateway(upstream=upstream) as actions,
    ):
        yield bot, actions


@pytest.fixture
def broker() -> Iterator[RedisServer]:
    """A Redis of this test's own, which the web side (this process) publishes to."""
    keys = ("broker_url", "broker_read_url", "broker_write_url")
    old = {key: app.conf[key] for key in keys}

    def publish_to(urls: dict[str, str]) -> None:
        # Celery 5.2 fills in the read and write URLs from broker_url once: set all three;
        # and forget the connections and the producers (kombu's, by connection) of the old.
        app.conf.update(urls)
        app.close()
        app.amqp._producer_pool = None

    with RedisServer() as redis:
        publish_to(dict.fromkeys(keys, redis.url))
        try:
            yield redis
        finally:
            publish_to(old)


def view_done() -> bool:
    """No request of the live server is still being handled (its response closed)."""
    return not [
        thread
        for thread in threading.enumerate()
        if getattr(getattr(thread, "_target", None), "__name__", "") == "process_request_thread"
        and thread.is_alive()
    ]


def test_the_answer_comes_within_three_seconds_with_the_broker_stopped_and_the_action_is_done_once_it_is_back(
    settings, api_slack, gateways, broker, tmp_path
):
    bot, actions = gateways
    queue = f"dsr-actions-{uuid.uuid4().hex[:12]}"
    secret_file = tmp_path / "signing-secret"
    secret_file.write_text(SIGNING_SECRET)
    settings.SLACK_INTERNAL_ENDPOINT = bot.endpoint
    settings.SLACK_RULES = {
        **settings.SLACK_RULES,
        "GATEWAY_MODE": "bot",
        "QUEUE": queue,
        "SIGNING_SECRET_FILE": str(secret_file),
    }
    api_slack.add_user("U0ALICE", email="alice@example.com", name="alice")
    alice = host_user("alice")
    alert, instance = firing_alert()
    delivery = send_with_buttons(rule_with_buttons(), alert, instance)
    click = Click.on(api_slack.message(delivery.channel_id, delivery.message_ts), "acknowledge")

    broker.stop()
    started = time.monotonic()
    status, _ = post(actions.actions_url, click.body(), click.headers(SIGNING_SECRET))
    took = time.monotonic() - started
    assert (status, took < 3) == (200, True), took
    [action] = SlackAction.objects.all()
    assert action.state == "pending"
    # The view tries to queue it once Slack has its answer, and gives up: nothing is queued.
    wait_until(view_done, 60, "the view's request to end")
    action.refresh_from_db()
    assert (action.state, action.held_until) == ("pending", None)

    broker.start()
    with celery_worker(
        queue=queue,
        db_name=str(connection.settings_dict["NAME"]),
        broker=broker.url,
        endpoint=bot.endpoint,
        log=tmp_path / "worker.log",
        gateway_mode="bot",
    ):
        # The package's periodic recovery queues what the broker never took.
        assert recover_actions(grace=0) == 1
        try:
            wait_until(
                lambda: SlackAction.objects.filter(state="done", notice_state="sent").exists(),
                60,
                "the action to be done by the worker",
            )
        except AssertionError:
            raise AssertionError((tmp_path / "worker.log").read_text()[-6000:]) from None
    [history] = AlertAcknowledgementHistory.objects.all()
    assert history.acknowledged_by == alice
    alert.refresh_from_db()
    assert alert.acknowledged
