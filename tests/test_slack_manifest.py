"""The Slack app manifest in docs/slack.md asks for exactly the scopes of the Web API methods
the package calls, the bot-mode gateway relays exactly those methods, and the manifest's
Request URL is the package's actions view."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from django.urls import reverse

from django_slack_rules.backends import InternalProxyBackend
from django_slack_rules.backends.proxy import WEB_API_METHODS
from tests.nginx_gateway import render

ROOT = Path(__file__).resolve().parent.parent
SLACK_DOC = (ROOT / "docs" / "slack.md").read_text()
SOURCES = ROOT / "src" / "django_slack_rules"


def manifest() -> dict:
    [block] = [
        text
        for text in re.findall(r"```yaml\n(.*?)```", SLACK_DOC, re.DOTALL)
        if "oauth_config" in text
    ]
    return yaml.safe_load(block)


def test_the_manifest_asks_for_the_scopes_of_the_methods_the_code_calls_and_no_more():
    needed = {scope for _, scopes in WEB_API_METHODS.values() for scope in scopes}
    assert sorted(manifest()["oauth_config"]["scopes"]["bot"]) == sorted(needed)
    assert needed == {"chat:write", "users:read", "users:read.email"}
    # Each scope is in the docs' table of what it is for.
    for scope in needed:
        assert f"`{scope}`" in SLACK_DOC


def test_the_code_calls_the_methods_through_the_gateway_locations_named_there():
    backend = InternalProxyBackend(endpoint="http://10.0.0.5/slack-proxy/")
    assert {
        backend.endpoint,
        backend.update_endpoint,
        backend.ephemeral_endpoint,
        backend.users_info_endpoint,
    } == {f"http://10.0.0.5/slack-proxy/{path}" for path, _ in WEB_API_METHODS.values()}
    # No Web API method is named anywhere else in the package.
    named = set()
    for source in SOURCES.rglob("*.py"):
        named |= set(
            re.findall(r'"((?:chat|users|conversations|reactions)\.[A-Za-z]+)"', source.read_text())
        )
    assert named <= set(WEB_API_METHODS), named - set(WEB_API_METHODS)


def test_the_bot_mode_gateway_relays_exactly_those_methods():
    config = render(
        mode="bot",
        listen="127.0.0.1:8080",
        callers=["127.0.0.1"],
        resolver="127.0.0.1",
        slack_address="slack.com:443",
    )
    relayed = dict(
        re.findall(
            r"location = /slack-proxy/([\w.]*) \{.*?proxy_pass https://\$slack_api_address/api/([\w.]+);",
            config,
            re.DOTALL,
        )
    )
    assert relayed == {path: method for method, (path, _) in WEB_API_METHODS.items()}


def test_interactivity_is_on_and_points_at_the_actions_view():
    interactivity = manifest()["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].endswith(reverse("django_slack_rules:slack-actions"))
    assert reverse("django_slack_rules:slack-actions") == "/slack/actions/"
