"""SlackService and the backends, against a fake Slack over real HTTP."""

from __future__ import annotations

import io
import re
import socket

import pytest

from django_slack_rules.backends import ConsoleBackend, InternalProxyBackend, LocmemBackend
from django_slack_rules.exceptions import (
    SlackDeliveryError,
    SlackPermanentError,
    SlackRateLimitedError,
    SlackRetryableError,
    SlackRulesConfigurationError,
    SlackRulesError,
    SlackSendCancelled,
)
from django_slack_rules.rendering.templates import TRUNCATION_MARKER
from django_slack_rules.services.slack_service import SlackService
from django_slack_rules.signals import post_send, pre_send
from tests.fake_slack import FakeSlack


def send(channel="#ops", text="hello"):
    return SlackService().send_notification(channel, text)


class TestInternalProxyBackend:
    def test_posts_json_with_the_channel_in_body_and_header(self, slack_endpoint):
        result = send("#ops", "disk *full*")
        [request] = slack_endpoint.wait_for_requests(1)
        assert request.method == "POST"
        assert request.path == "/slack-proxy/"
        assert request.json() == {"channel": "#ops", "text": "disk *full*"}
        assert request.headers["x-slack-channel"] == "#ops"
        assert request.headers["content-type"] == "application/json"
        assert result.status_code == 200
        assert result.response_text == "ok"

    def test_a_non_latin_channel_name_travels_in_the_header_as_utf8(self, slack_endpoint):
        send("#アラート-db", "disk full")
        [request] = slack_endpoint.wait_for_requests(1)
        # http.server decodes header bytes as Latin-1; the bytes on the wire are UTF-8.
        raw = request.headers["x-slack-channel"].encode("latin-1")
        assert raw.decode("utf-8") == "#アラート-db"
        assert request.json()["channel"] == "#アラート-db"

    def test_web_api_answer_is_understood(self, settings):
        with FakeSlack(api_mode=True) as slack:
            settings.SLACK_INTERNAL_ENDPOINT = f"{slack.url}/api/chat.postMessage"
            result = send("C0123ABCDEF")
            assert result.ts.startswith("17")
            slack.respond_api_error("channel_not_found")
            with pytest.raises(SlackPermanentError) as info:
                send("C0123ABCDEF")
            assert info.value.error == "channel_not_found"
            assert info.value.status_code == 200
            assert info.value.reason == "slack_error"
            slack.respond_api_error("internal_error")
            with pytest.raises(SlackRetryableError):
                send("C0123ABCDEF")

    def test_ratelimited_in_a_200_answer_is_a_rate_limit(self, settings):
        """Slack's Web API may answer 200 {"ok": false, "error": "ratelimited"}: the channel is
        paused as for a 429, not retried like any transient error."""
        with FakeSlack(api_mode=True) as slack:
            settings.SLACK_INTERNAL_ENDPOINT = f"{slack.url}/api/chat.postMessage"
            slack.queue_response(
                status=200,
                body='{"ok": false, "error": "ratelimited"}',
                content_type="application/json",
                headers={"Retry-After": "12"},
            )
            with pytest.raises(SlackRateLimitedError) as info:
                send("C0123ABCDEF")
        assert (info.value.retry_after, info.value.reason) == (12, "rate_limited")

    @pytest.mark.parametrize(
        ("status", "error"),
        [
            (400, "invalid_payload"),
            (403, "action_prohibited"),
            (404, "channel_not_found"),
            (410, "channel_is_archived"),
        ],
    )
    def test_slack_4xx_is_permanent_and_carries_slacks_error(self, slack_endpoint, status, error):
        slack_endpoint.respond_error(status, error)
        with pytest.raises(SlackPermanentError) as info:
            send("#ops")
        exc = info.value
        assert (exc.status_code, exc.error, exc.channel) == (status, error, "#ops")
        assert exc.reason == "slack_error"
        assert not exc.retryable
        assert error in str(exc)

    def test_429_is_retryable_with_retry_after(self, slack_endpoint):
        slack_endpoint.respond_rate_limited(retry_after=7)
        with pytest.raises(SlackRateLimitedError) as info:
            send()
        assert info.value.retry_after == 7
        assert info.value.retryable

    def test_429_without_retry_after_like_nginx(self, slack_endpoint):
        slack_endpoint.queue_response(
            status=429, body="<html>429 Too Many Requests</html>", content_type="text/html"
        )
        with pytest.raises(SlackRateLimitedError) as info:
            send()
        assert info.value.retry_after is None

    @pytest.mark.parametrize(
        ("status", "word", "error_class", "message"),
        [
            (403, "proxy_caller_not_allowed", SlackPermanentError, "The Slack gateway refused"),
            (404, "proxy_channel_not_routed", SlackPermanentError, "The Slack gateway refused"),
            (429, "proxy_rate_limited", SlackRateLimitedError, "The Slack gateway rate-limited"),
            (
                502,
                "proxy_upstream_failed",
                SlackRetryableError,
                "could not get an answer from Slack",
            ),
        ],
    )
    def test_the_gateways_own_answers_name_the_gateway_not_slack(
        self, slack_endpoint, status, word, error_class, message
    ):
        slack_endpoint.queue_response(status=status, body=f"{word}\n")
        with pytest.raises(error_class, match=re.escape(message)) as info:
            send()
        assert (info.value.status_code, info.value.error) == (status, word)
        assert info.value.reason == (
            "slack_unavailable"
            if status >= 500
            else "rate_limited"
            if status == 429
            else "gateway_refused"
        )
        assert "Slack refused" not in str(info.value)

    def test_nginx_own_error_page_is_the_gateways_refusal(self, slack_endpoint):
        """A wrong gateway path gets nginx's HTML 404, which Slack never sends."""
        slack_endpoint.queue_response(
            status=404, body="<html><body>404 Not Found</body></html>", content_type="text/html"
        )
        with pytest.raises(SlackPermanentError) as info:
            send()
        assert info.value.reason == "gateway_refused"
        assert str(info.value).startswith("The Slack gateway refused the message without Slack's")

    @pytest.mark.parametrize("body", ["", "Not Found", "404 page not found\n"])
    def test_a_404_that_is_not_slacks_answer_blames_the_gateway_not_slack(
        self, slack_endpoint, body
    ):
        """Slack answers a JSON object or a bare error word: anything else at 404 is
        whatever answers at SLACK_INTERNAL_ENDPOINT (a wrong path), not Slack."""
        slack_endpoint.queue_response(status=404, body=body)
        with pytest.raises(SlackPermanentError) as info:
            send()
        assert (info.value.reason, info.value.error) == ("gateway_refused", "")
        assert "Slack refused" not in str(info.value)
        assert "SLACK_INTERNAL_ENDPOINT" in str(info.value)

    def test_slacks_own_refusal_names_slack(self, slack_endpoint):
        slack_endpoint.respond_error(404, "channel_not_found")
        with pytest.raises(SlackPermanentError) as info:
            send()
        assert info.value.reason == "slack_error"
        assert str(info.value).startswith("Slack refused the message: channel_not_found (HTTP 404)")

    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_5xx_is_retryable(self, slack_endpoint, status):
        slack_endpoint.respond_server_error(status=status)
        with pytest.raises(SlackRetryableError) as info:
            send()
        assert info.value.status_code == status
        assert info.value.reason == "slack_unavailable"

    def test_slow_answer_times_out_as_retryable(self, slack_endpoint, slack_rules):
        slack_rules(READ_TIMEOUT=0.3)
        slack_endpoint.respond_slow(3)
        with pytest.raises(SlackRetryableError, match="did not answer in time") as info:
            send()
        assert (info.value.error, info.value.reason) == ("timeout", "timeout")

    def test_unreachable_endpoint_is_retryable_and_says_so(self, settings):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        settings.SLACK_INTERNAL_ENDPOINT = f"http://127.0.0.1:{port}/slack-proxy/secret-path"
        with pytest.raises(SlackRetryableError) as info:
            send()
        message = str(info.value)
        assert info.value.reason == "gateway_unreachable"
        assert "The Slack gateway at" in message
        assert "could not be reached" in message
        assert "Slack refused" not in message
        assert f"127.0.0.1:{port}" in message
        assert "secret-path" not in message

    @pytest.mark.parametrize("endpoint", ["http://[::1/", "http://host:port/", "/slack-proxy/"])
    def test_a_malformed_endpoint_is_a_configuration_error(self, settings, endpoint):
        settings.SLACK_INTERNAL_ENDPOINT = endpoint
        with pytest.raises(SlackRulesConfigurationError, match="not an http"):
            InternalProxyBackend()

    def test_a_redirect_is_permanent_and_says_what_to_fix(self, slack_endpoint):
        slack_endpoint.queue_response(status=301, body="", headers={"Location": "https://x/"})
        with pytest.raises(SlackPermanentError, match="set SLACK_INTERNAL_ENDPOINT") as info:
            send()
        assert info.value.status_code == 301
        assert len(slack_endpoint.requests) == 1

    def test_unexpected_body_at_200_is_permanent(self, slack_endpoint):
        slack_endpoint.queue_response(status=200, body="no_text")
        with pytest.raises(SlackPermanentError) as info:
            send()
        assert info.value.error == "no_text"

    def test_missing_endpoint_is_a_configuration_error(self, settings, monkeypatch):
        monkeypatch.delenv("SLACK_INTERNAL_ENDPOINT", raising=False)
        settings.SLACK_INTERNAL_ENDPOINT = ""
        with pytest.raises(
            SlackRulesConfigurationError, match="SLACK_INTERNAL_ENDPOINT is not set"
        ):
            send()

    def test_errors_are_in_one_tree_and_config_errors_outside_it(self):
        assert issubclass(SlackRateLimitedError, SlackRetryableError)
        assert issubclass(SlackPermanentError, SlackDeliveryError)
        assert not issubclass(SlackRulesConfigurationError, SlackRulesError)


class TestService:
    def test_long_text_is_truncated_with_a_marker_not_rejected(self, slack_endpoint, slack_rules):
        slack_rules(MESSAGE_MAX_LENGTH=500)
        send(text="z" * 2000)
        body = slack_endpoint.wait_for_requests(1)[0].json()
        assert len(body["text"]) <= 500
        assert body["text"].endswith(TRUNCATION_MARKER)

    def test_backend_follows_override_settings(self, outbox, slack_rules):
        send("#a", "one")
        assert [(m.channel, m.text) for m in outbox] == [("#a", "one")]
        stream = io.StringIO()
        service = SlackService(backend=ConsoleBackend(stream=stream))
        service.send_notification("#b", "two")
        assert "Slack message to #b" in stream.getvalue()
        assert "two" in stream.getvalue()
        assert len(outbox) == 1

    def test_bad_backend_setting_is_a_configuration_error(self, slack_rules):
        slack_rules(BACKEND="django.conf.settings")
        with pytest.raises(SlackRulesConfigurationError, match="not a backend class"):
            send()

    def test_pre_send_can_cancel_and_post_send_reports(self, outbox):
        seen = []

        def cancel(sender, channel, message, **kwargs):
            if "skip" in message:
                raise SlackSendCancelled("maintenance window")

        def report(sender, channel, message, result, error, **kwargs):
            seen.append((sender, channel, result is not None, error))

        pre_send.connect(cancel)
        post_send.connect(report)
        try:
            with pytest.raises(SlackSendCancelled):
                send("#a", "please skip")
            send("#a", "go")
        finally:
            pre_send.disconnect(cancel)
            post_send.disconnect(report)
        assert [m.text for m in outbox] == ["go"]
        assert seen == [(LocmemBackend, "#a", True, None)]

    def test_post_send_reports_failures(self, slack_endpoint):
        errors = []

        def report(sender, error, **kwargs):
            errors.append(error)

        post_send.connect(report)
        try:
            slack_endpoint.respond_error(404, "channel_not_found")
            with pytest.raises(SlackPermanentError):
                send()
        finally:
            post_send.disconnect(report)
        assert [e.error for e in errors] == ["channel_not_found"]
