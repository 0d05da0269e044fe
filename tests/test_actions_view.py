"""The actions view and what a click does, through Django's test client and a fake Slack
over HTTP (the nginx round trips are in test_actions_gateway.py): the answers Slack gets,
who the clicker is (the link table, a resolver, the email), retries, and recovery."""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from django_slack_rules.action_tasks import recover_actions
from django_slack_rules.models import (
    ACTION_UPDATE,
    DeliveryState,
    SlackAction,
    SlackDelivery,
    SlackUserLink,
)
from django_slack_rules.services.actions import intake
from tests.actions_support import (
    SIGNING_SECRET,
    firing_alert,
    host_user,
    rule_with_buttons,
    send_with_buttons,
)
from tests.alerts.models import AlertAcknowledgementHistory
from tests.fake_slack import FakeSlack
from tests.slack_clicks import ALICE, Click, SlackUser, sign
from tests.utils import url

pytestmark = pytest.mark.django_db


@pytest.fixture
def slack(settings, monkeypatch, eager) -> Iterator[FakeSlack]:
    """Slack's Web API (fake, over HTTP) as the gateway in bot mode; the signing secret in
    the environment; Alice in Slack and in the host."""
    with FakeSlack(api_mode=True) as fake:
        settings.SLACK_INTERNAL_ENDPOINT = f"{fake.url}/slack-proxy/"
        settings.SLACK_RULES = {
            **settings.SLACK_RULES,
            "GATEWAY_MODE": "bot",
            "SITE_URL": "https://alerts.example.com",
        }
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        fake.add_user(ALICE.id, email="alice@example.com", name="alice")
        yield fake


def click_on(client, click: Click, secret: str = SIGNING_SECRET):
    headers = click.headers(secret)
    return client.post(
        url("slack-actions"),
        data=click.body(),
        content_type=headers["Content-Type"],
        HTTP_X_SLACK_SIGNATURE=headers["X-Slack-Signature"],
        HTTP_X_SLACK_REQUEST_TIMESTAMP=headers["X-Slack-Request-Timestamp"],
    )


def message_click(slack: FakeSlack, action: str = "acknowledge", **kwargs) -> Click:
    alert, instance = firing_alert()
    delivery = send_with_buttons(rule_with_buttons(), alert, instance)
    return Click.on(slack.message(delivery.channel_id, delivery.message_ts), action, **kwargs)


def paths(slack: FakeSlack) -> list[str]:
    return [request.path for request in slack.requests]


def test_without_a_signing_secret_clicks_are_refused_and_the_log_says_how_to_fix_it(
    client, slack, monkeypatch, caplog
):
    click = message_click(slack)
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    with caplog.at_level(logging.ERROR, logger="django_slack_rules"):
        response = click_on(client, click)
    assert response.status_code == 503
    assert "SIGNING_SECRET_FILE" in caplog.text
    assert "SLACK_SIGNING_SECRET" in caplog.text
    assert SIGNING_SECRET not in caplog.text
    assert not SlackAction.objects.exists()


def test_the_secret_may_come_from_a_file_named_in_settings(client, slack, settings, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("file-secret\n")
    settings.SLACK_RULES = {**settings.SLACK_RULES, "SIGNING_SECRET_FILE": str(secret_file)}
    click = message_click(slack)
    assert click_on(client, click).status_code == 401  # the environment's is not used then
    assert click_on(client, click, secret="file-secret").status_code == 200


def post_signed(client, body: bytes):
    headers = sign(body, SIGNING_SECRET)
    return client.post(
        url("slack-actions"),
        data=body,
        content_type=headers["Content-Type"],
        HTTP_X_SLACK_SIGNATURE=headers["X-Slack-Signature"],
        HTTP_X_SLACK_REQUEST_TIMESTAMP=headers["X-Slack-Request-Timestamp"],
    )


def test_other_interactions_and_link_clicks_are_answered_and_record_nothing(client, slack):
    assert click_on(client, message_click(slack, "open")).status_code == 200
    shortcut = {"type": "shortcut", "callback_id": "x", "user": {"id": ALICE.id}}
    body = urlencode({"payload": json.dumps(shortcut)}).encode()
    assert post_signed(client, body).status_code == 200
    assert not SlackAction.objects.exists()
    # Signed, but not Slack's form: a bad request.
    assert post_signed(client, b"not a form").status_code == 400
    assert post_signed(client, b"payload=%5B1%5D").status_code == 400


def test_a_passing_failure_of_slack_is_retried_and_the_action_done_once(client, slack):
    host_user("alice")
    click = message_click(slack)
    slack.respond_server_error(502, "proxy_upstream_failed")  # users.info, the first time
    assert click_on(client, click).status_code == 200
    action = SlackAction.objects.get()
    assert (action.state, action.notice_state, action.attempts) == ("done", "sent", 2)
    assert paths(slack).count("/slack-proxy/users.info") == 2
    assert AlertAcknowledgementHistory.objects.count() == 1


def test_when_slack_cannot_say_who_clicked_the_clicker_is_told_to_try_again(
    client, slack, settings
):
    settings.SLACK_RULES = {**settings.SLACK_RULES, "MAX_ATTEMPTS": 2}
    host_user("alice")
    click = message_click(slack)
    slack.respond_server_error(500, "fatal_error", times=2)
    assert click_on(client, click).status_code == 200
    action = SlackAction.objects.get()
    assert action.state == "refused"
    assert action.reason.startswith("Slack could not be asked who you are")
    [answer] = slack.ephemerals()
    assert "Try again in a moment" in answer.text
    assert not AlertAcknowledgementHistory.objects.exists()


def test_slack_without_the_email_scope_is_named_as_the_cause(client, slack):
    host_user("alice")
    slack.add_user(ALICE.id, name="alice")  # no profile.email: no users:read.email
    assert click_on(client, message_click(slack)).status_code == 200
    [answer] = slack.ephemerals()
    assert "Slack gave no email address for you" in answer.text
    assert "users:read.email" in answer.text


def test_several_host_users_with_the_email_are_not_guessed_between(client, slack):
    host_user("alice")
    host_user("alice2", email="ALICE@example.com")
    assert click_on(client, message_click(slack)).status_code == 200
    [answer] = slack.ephemerals()
    assert "Several SentryHub users have your email address" in answer.text


def test_a_link_set_by_an_admin_wins_and_slack_is_not_asked(client, slack):
    alice = host_user("alice", email="someone-else@example.com")
    SlackUserLink.objects.create(slack_user_id=ALICE.id, user=alice)
    assert click_on(client, message_click(slack)).status_code == 200
    assert SlackAction.objects.get().user == alice
    assert "/slack-proxy/users.info" not in paths(slack)


def find_by_username(slack_user):
    from django.contrib.auth.models import User

    return User.objects.filter(username=f"host-{slack_user['username']}").first()


def test_a_hosts_resolver_maps_the_user(client, slack, settings):
    settings.SLACK_RULES = {
        **settings.SLACK_RULES,
        "USER_RESOLVER": "tests.test_actions_view.find_by_username",
    }
    alice = host_user("host-alice", email="")
    assert click_on(client, message_click(slack)).status_code == 200
    assert SlackAction.objects.get().user == alice
    assert SlackUserLink.objects.get().source == "resolver"
    carol = SlackUser("U0CAROL", "carol")
    slack.add_user(carol.id, email="carol@example.com", name="carol")
    assert click_on(client, message_click(slack, user=carol)).status_code == 200
    [answer] = slack.ephemerals()
    assert 'resolver (SLACK_RULES["USER_RESOLVER"]) knows no user' in answer.text


def test_a_message_showing_the_resolution_is_not_changed_back(client, slack):
    host_user("alice")
    click = message_click(slack)
    firing = SlackDelivery.objects.get()
    SlackDelivery.objects.create(
        rule=firing.rule,
        alert_id=firing.alert_id,
        alert_status="resolved",
        idempotency_key="resolved-update",
        action=ACTION_UPDATE,
        parent=firing,
        state=DeliveryState.SENT,
    )
    assert click_on(client, click).status_code == 200
    action = SlackAction.objects.get()
    assert (action.state, action.notice_state) == ("done", "skipped")
    assert "resolution" in action.notice_error
    assert "/slack-proxy/chat.update" not in paths(slack)


def test_recovery_does_a_click_the_broker_never_took_once_it_is_due(slack):
    alice = host_user("alice")
    click = message_click(slack)
    # Taken and answered, but never queued (the view queues it once Slack has its answer).
    answer = intake.take(click.body(), *signed(click))
    action = SlackAction.objects.get(pk=answer.action_id)
    assert action.state == "pending"
    assert recover_actions() == 0  # within the grace period: its task may be on its way
    later = timezone.now() + datetime.timedelta(seconds=31)
    assert recover_actions(now=later) == 1
    action.refresh_from_db()
    assert (action.state, action.user) == ("done", alice)
    assert recover_actions(now=later) == 0  # done: nothing left to recover


def signed(click: Click) -> tuple[str, str]:
    headers = click.headers(SIGNING_SECRET)
    return headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]


def test_an_admin_links_a_slack_user_the_email_did_not_find_and_the_next_click_acts(
    client, admin_client, slack
):
    from django.urls import reverse

    slack.add_user("U0BOB", email="bob@elsewhere.example", name="bob")
    bob = SlackUser("U0BOB", "bob")
    assert click_on(client, message_click(slack, user=bob)).status_code == 200
    link = SlackUserLink.objects.get(slack_user_id="U0BOB")
    assert link.user is None
    robert = host_user("robert")
    page = reverse("admin:django_slack_rules_slackuserlink_change", args=[link.pk])
    response = admin_client.post(
        page,
        {
            "slack_user_id": "U0BOB",
            "slack_team_id": link.slack_team_id,
            "slack_name": link.slack_name,
            "email": link.email,
            "user": robert.pk,
            "source": link.source,
        },
    )
    assert response.status_code == 302
    link.refresh_from_db()
    assert (link.user, link.source) == (robert, "admin")
    assert click_on(client, message_click(slack, user=bob)).status_code == 200
    assert SlackAction.objects.filter(state="done").get().user == robert
    # The audit is read-only in the admin.
    actions = admin_client.get(reverse("admin:django_slack_rules_slackaction_changelist"))
    assert actions.status_code == 200
    assert "Add Slack action" not in actions.content.decode()


def test_the_periodic_recovery_does_a_click_the_broker_never_took(slack):
    """``recover_stranded`` (celery beat, every minute) takes the clicks too."""
    from django_slack_rules.models import SlackAction as Action
    from django_slack_rules.tasks import requeue_stranded

    host_user("alice")
    click = message_click(slack)
    answer = intake.take(click.body(), *signed(click))
    long_ago = timezone.now() - datetime.timedelta(minutes=5)
    Action.objects.filter(pk=answer.action_id).update(created_at=long_ago)
    requeue_stranded()
    assert Action.objects.get(pk=answer.action_id).state == "done"
