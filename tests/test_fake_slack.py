"""Tests of the fake Slack server itself (plain pytest, no Django, no DB)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest
import requests

try:
    from tests.fake_slack import ChannelLimit, FakeSlack, _ChannelLimiter
except ImportError:  # tests/ is not a package: pytest puts tests/ on sys.path
    from fake_slack import ChannelLimit, FakeSlack, _ChannelLimiter

TS_RE = re.compile(r"^\d{10}\.\d{6}$")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def test_default_answer_is_ok_and_request_is_recorded(slack: FakeSlack) -> None:
    resp = requests.post(
        slack.url + "/services/T000/B000/XXXX?x=1",
        data='{"text": "héllo"}'.encode(),
        headers={"X-Custom": "value", "Content-Type": "application/json"},
        timeout=5,
    )

    assert resp.status_code == 200
    assert resp.text == "ok"
    assert resp.headers["Content-Type"] == "text/plain"
    (req,) = slack.wait_for_requests(1)
    assert req.method == "POST"
    assert req.path == "/services/T000/B000/XXXX?x=1"
    assert req.headers["x-custom"] == "value"
    assert req.headers["content-type"] == "application/json"
    assert int(req.headers["content-length"]) == len(req.body)
    assert req.json() == {"text": "héllo"}
    assert req.text() == '{"text": "héllo"}'
    assert isinstance(req.body, bytes)
    assert req.received_at <= time.monotonic()
    assert slack.requests == [req]


def test_url_port_and_host(slack: FakeSlack) -> None:
    assert slack.host == "127.0.0.1"
    assert slack.port > 0
    assert slack.url == f"http://127.0.0.1:{slack.port}"


def test_queued_answers_come_back_in_order_then_default_resumes(slack: FakeSlack) -> None:
    slack.respond_error(400, "invalid_payload")
    slack.respond_rate_limited(retry_after=7)
    slack.respond_rate_limited(retry_after=None)
    slack.respond_server_error(503, "service_unavailable")
    slack.respond_server_error()
    slack.respond_error(404, "channel_not_found", times=2)
    assert slack.pending_responses == 7

    got = []
    with requests.Session() as session:  # pooled keep-alive connection
        for i in range(9):
            resp = session.post(slack.url + "/hook", json={"n": i}, timeout=5)
            got.append((resp.status_code, resp.text, resp.headers.get("Retry-After")))

    assert got == [
        (400, "invalid_payload", None),
        (429, "rate_limited", "7"),
        (429, "rate_limited", None),
        (503, "service_unavailable", None),
        (500, "rollup_error", None),
        (404, "channel_not_found", None),
        (404, "channel_not_found", None),
        (200, "ok", None),
        (200, "ok", None),
    ]
    assert [r.json()["n"] for r in slack.wait_for_requests(9)] == list(range(9))
    assert slack.pending_responses == 0


def test_queue_response_custom_headers_and_content_type(slack: FakeSlack) -> None:
    slack.queue_response(
        201, b'{"a": 1}', headers={"X-Slack-Req": "abc"}, content_type="application/json"
    )
    resp = requests.get(slack.url + "/anything", timeout=5)
    assert resp.status_code == 201
    assert resp.json() == {"a": 1}
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["X-Slack-Req"] == "abc"
    (req,) = slack.wait_for_requests(1)
    assert (req.method, req.body) == ("GET", b"")


def test_chunked_body_is_read_fully(slack: FakeSlack) -> None:
    resp = requests.post(slack.url + "/hook", data=iter([b"hel", b"lo ", b"world"]), timeout=5)
    assert resp.status_code == 200
    (req,) = slack.wait_for_requests(1)
    assert req.body == b"hello world"
    with pytest.raises(ValueError, match="not JSON"):
        req.json()


def test_api_mode_answers_json_with_unique_ts_and_echoes_channel() -> None:
    with FakeSlack(api_mode=True) as slack, requests.Session() as session:
        first = session.post(
            slack.url + "/api/chat.postMessage", json={"channel": "C123", "text": "a"}, timeout=5
        )
        second = session.post(slack.url + "/api/chat.postMessage", json={"text": "b"}, timeout=5)
        form = session.post(
            slack.url + "/api/chat.postMessage", data={"channel": "C999", "text": "c"}, timeout=5
        )
        slack.respond_api_error("channel_not_found")
        error = session.post(
            slack.url + "/api/chat.postMessage", json={"channel": "C404"}, timeout=5
        )

    for resp in (first, second, form, error):
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == "application/json"
    a, b, c = first.json(), second.json(), form.json()
    assert a["ok"] is True
    assert a["channel"] == "C123"
    assert b["ok"] is True
    assert b["channel"] is None
    assert c["channel"] == "C999"
    assert all(TS_RE.match(x["ts"]) for x in (a, b, c))
    assert float(a["ts"]) < float(b["ts"]) < float(c["ts"])
    assert error.json() == {"ok": False, "error": "channel_not_found"}


def test_wait_for_requests_times_out_with_clear_message(slack: FakeSlack) -> None:
    requests.post(slack.url + "/services/one", data="first", timeout=5)

    started = time.monotonic()
    with pytest.raises(AssertionError) as excinfo:
        slack.wait_for_requests(2, timeout=0.3)
    elapsed = time.monotonic() - started

    assert 0.25 <= elapsed < 5
    message = str(excinfo.value)
    assert "expected at least 2" in message
    assert "1 arrived" in message
    assert "POST /services/one" in message


def test_slow_answer_times_out_client_and_stop_is_prompt() -> None:
    slack = FakeSlack().start()
    try:
        slack.respond_slow(60)
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(slack.url + "/hook", data="x", timeout=0.2)
        slack.wait_for_requests(1, timeout=5)
    finally:
        started = time.monotonic()
        slack.stop()
        assert time.monotonic() - started < 5


def test_stop_while_client_waits_on_slow_answer() -> None:
    slack = FakeSlack().start()
    slack.respond_slow(60)
    # Stop from another thread as soon as the request has been recorded; the
    # client would wait up to 30 s, but stop() cuts the slow answer short.
    stopper = threading.Thread(
        target=lambda: (slack.wait_for_requests(1, timeout=5), slack.stop()), daemon=True
    )
    stopper.start()
    started = time.monotonic()
    with requests.Session() as session, pytest.raises(requests.exceptions.ConnectionError):
        session.post(slack.url + "/hook", data="x", timeout=30)
    assert time.monotonic() - started < 5
    stopper.join(timeout=5)
    assert not stopper.is_alive()
    slack.stop()


def test_stop_twice_is_harmless_and_server_is_gone() -> None:
    slack = FakeSlack()
    with slack:
        url = slack.url
        with requests.Session() as session:
            assert session.post(url + "/hook", data="x", timeout=5).text == "ok"
            slack.stop()
            slack.stop()
            # Neither the pooled connection nor a new one gets an answer now.
            with pytest.raises(requests.exceptions.ConnectionError):
                session.post(url + "/hook", data="y", timeout=5)
    slack.stop()
    assert len(slack.requests) == 1


def test_reset_clears_requests_and_queue(slack: FakeSlack) -> None:
    slack.respond_server_error(times=3)
    requests.post(slack.url + "/hook", data="x", timeout=5)
    slack.reset()
    assert slack.requests == []
    assert slack.pending_responses == 0
    assert requests.post(slack.url + "/hook", data="y", timeout=5).status_code == 200


def test_api_mode_keeps_threads_and_updates_like_slack() -> None:
    with FakeSlack(api_mode=True) as slack, requests.Session() as session:
        api = slack.url + "/api/"
        first = session.post(api + "chat.postMessage", json={"channel": "#web", "text": "a"})
        parent = first.json()
        assert parent["channel"] == slack.channel_id("#web")
        assert re.match(r"^C[0-9A-F]{10}$", parent["channel"])
        reply = session.post(
            api + "chat.postMessage",
            json={"channel": parent["channel"], "text": "b", "thread_ts": parent["ts"]},
        ).json()
        assert reply["message"]["thread_ts"] == parent["ts"]
        updated = session.post(
            api + "chat.update",
            json={"channel": parent["channel"], "ts": parent["ts"], "text": "c"},
        ).json()
        assert (updated["ok"], updated["ts"], updated["text"]) == (True, parent["ts"], "c")
        by_name = session.post(
            api + "chat.update", json={"channel": "#web", "ts": parent["ts"], "text": "d"}
        ).json()
        gone = session.post(
            api + "chat.update", json={"channel": parent["channel"], "ts": "1.000001", "text": "e"}
        ).json()

    assert by_name == {"ok": False, "error": "channel_not_found"}  # chat.update takes an id
    assert gone == {"ok": False, "error": "message_not_found"}
    [message] = slack.messages("#web")
    assert (message.text, message.edits) == ("c", [("a", None)])
    assert [r.text for r in slack.replies("#web", message.ts)] == ["b"]
    assert slack.message(parent["channel"], reply["ts"]).thread_ts == parent["ts"]


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "sectoin", "text": {"type": "mrkdwn", "text": "x"}}], "/blocks/0/type"),
        ([{"type": "divider"}] * 51, "/blocks"),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
            "/blocks/0/text/text",
        ),
        ("not a list", "/blocks"),
    ],
)
def test_blocks_slack_refuses_are_answered_invalid_blocks(blocks, pointer) -> None:
    with FakeSlack(api_mode=True) as api, FakeSlack() as hooks:
        answer = requests.post(
            api.url + "/api/chat.postMessage",
            json={"channel": "#web", "text": "t", "blocks": blocks},
            timeout=5,
        ).json()
        webhook = requests.post(
            hooks.url + "/services/x", json={"text": "t", "blocks": blocks}, timeout=5
        )
        assert api.messages() == []
    assert (answer["ok"], answer["error"]) == (False, "invalid_blocks")
    [message] = answer["response_metadata"]["messages"][:1]
    assert message.startswith("[ERROR] ")
    assert message.endswith(f"[json-pointer:{pointer}]")
    assert (webhook.status_code, webhook.text) == (400, "invalid_blocks")


# -- Slack's pace per channel ---------------------------------------------------------


def test_the_channel_limit_answers_429_beyond_the_burst_and_records_the_retry_after_window():
    with FakeSlack(channel_limit=ChannelLimit(rate=1, burst=5)) as slack, requests.Session() as s:

        def post(channel: str) -> requests.Response:
            return s.post(slack.url + "/hook", json={"channel": channel, "text": "x"}, timeout=5)

        answers = [post("#storm") for _ in range(7)]
        assert [a.status_code for a in answers] == [200] * 5 + [429, 429]
        assert answers[5].text == "rate_limited"
        assert answers[5].headers["Retry-After"] == "1"
        # Another channel has a bucket of its own.
        assert post("#calm").status_code == 200
        requests_ = slack.requests
        assert slack.rate_limited == requests_[5:7]
        # The seventh came during the sixth's Retry-After window.
        assert slack.inside_retry_after == [requests_[6]]

        slack.reset()  # forgets the limit too
        assert [post("#storm").status_code for _ in range(7)] == [200] * 7
        assert slack.rate_limited == slack.inside_retry_after == []


def test_the_channel_limit_in_api_mode_answers_ratelimited_and_knows_names_from_ids():
    with FakeSlack(api_mode=True) as slack, requests.Session() as s:
        slack.limit_channels(rate=1, burst=1)
        first = s.post(slack.url + "/api", json={"channel": "#storm", "text": "a"}, timeout=5)
        by_id = {"channel": slack.channel_id("#storm"), "text": "b"}
        second = s.post(slack.url + "/api", json=by_id, timeout=5)
        assert first.json()["ok"] is True
        assert second.status_code == 429
        assert second.json() == {"ok": False, "error": "ratelimited"}
        assert int(second.headers["Retry-After"]) >= 1


def test_the_limiter_is_gcra_per_channel():
    limiter = _ChannelLimiter(ChannelLimit(rate=1, burst=3))
    assert [limiter.retry_after("C1", 100.0) for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("C1", 100.0) == 1  # the next slot is at 101
    assert limiter.in_window("C1", 100.5)
    assert not limiter.in_window("C1", 101.0)
    assert limiter.retry_after("C1", 101.0) is None  # one per second after the burst
    assert limiter.retry_after("C1", 101.5) == 1  # (ceil of 0.5 s)
    assert limiter.retry_after("C1", 102.0) is None
    assert limiter.retry_after("C2", 101.5) is None
    # A quiet spell refills the burst.
    assert [limiter.retry_after("C1", 200.0) for _ in range(4)] == [None, None, None, 1]
