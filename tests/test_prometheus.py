"""deploy/prometheus/: the alert rules pass promtool's checks and their unit tests, the
example configuration is valid, and a real Prometheus scraping a live server of the test
host fires the stuck-delivery alert."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.metrics_helpers import TOKEN, ago, make_delivery
from tests.processes import wait_until
from tests.prometheus_server import DEPLOY, PrometheusServer, load, promtool

RULES = "slack_rules.rules.yml"


def test_the_alert_rules_pass_promtool_check():
    done = promtool("check", "rules", RULES, cwd=DEPLOY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


def test_every_alert_rule_has_unit_tests_and_they_pass():
    done = promtool("test", "rules", "slack_rules.rules.test.yml", cwd=DEPLOY)
    assert done.returncode == 0, done.stdout + done.stderr
    tested = {
        case["alertname"]
        for test in load("slack_rules.rules.test.yml")["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested == {rule["alert"] for rule in shipped_rules()}


def test_the_example_configuration_is_valid(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    config = load("prometheus.example.yml")
    config["scrape_configs"][0]["authorization"]["credentials_file"] = str(token_file)
    (tmp_path / "prometheus.yml").write_text(dump(config))
    shutil.copy(DEPLOY / RULES, tmp_path / RULES)
    done = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout


def test_the_documented_routing_sends_the_alerts_beyond_slack(tmp_path):
    # docs/metrics.md's alertmanager.yml: Alertmanager takes it, and an alert of this package
    # goes to a receiver that is not SentryHub's webhook (which would post it to Slack).
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: apt-get install prometheus-alertmanager (.ci/run does)"
    docs = (DEPLOY.parent.parent / "docs" / "metrics.md").read_text()
    marker = "```yaml\n# alertmanager.yml (SentryHub's Alertmanager)\n"
    (tmp_path / "alertmanager.yml").write_text(docs.split(marker)[1].split("```")[0])
    checked = subprocess.run(
        [amtool, "check-config", "alertmanager.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    routes = subprocess.run(
        [
            *(amtool, "config", "routes", "test", "--config.file=alertmanager.yml"),
            *("component=slack-rules", "alertname=SlackRulesDeliveriesStuck"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert routes.stdout.split() == ["slack-path-oncall,sentryhub"], routes.stderr


def shipped_rules() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


def dump(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data)


def quick(rules: dict[str, Any]) -> dict[str, Any]:
    """The shipped rules with every ``for:`` at 1 s: the same expressions, sooner."""
    rules = copy.deepcopy(rules)
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            rule["for"] = "1s"
    return rules


def scraping(example: dict[str, Any], target: str, token_file: Path) -> dict[str, Any]:
    """The example configuration pointed at ``target`` over http, scraping every second,
    with no Alertmanager to send to."""
    config = copy.deepcopy(example)
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config.pop("alerting")
    [job] = config["scrape_configs"]
    job["scheme"] = "http"
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [target]}]
    return config


@pytest.mark.e2e
def test_a_real_prometheus_fires_the_stuck_delivery_alert(live_server, slack_rules, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    slack_rules(METRICS={"ENABLED": True, "TOKEN_FILE": str(token_file)})
    make_delivery(state="sent", sent_at=ago(minutes=59), created_at=ago(hours=1))
    make_delivery(state="pending", created_at=ago(minutes=20))  # nothing works on it
    target = live_server.url.removeprefix("http://")
    config = scraping(load("prometheus.example.yml"), target, token_file)
    with PrometheusServer(config=config, rules=quick(load(RULES)), state_dir=tmp_path) as server:

        def firing() -> list[dict[str, Any]]:
            return [a for a in server.alerts() if a["state"] == "firing"]

        try:
            [alert] = wait_until(firing, what="the stuck-delivery alert to fire")
        except AssertionError:
            raise AssertionError(f"{server.targets()}\n{server.log()[-4000:]}") from None
        assert alert["labels"]["alertname"] == "SlackRulesDeliveriesStuck"
        assert alert["labels"]["severity"] == "critical"
        assert 20 * 60 <= float(alert["value"]) < 22 * 60
        # It scraped with the token (a refused scrape would be "down" and fire another).
        [scraped] = server.targets()
        assert scraped["health"] == "up"
        assert scraped["scrapeUrl"] == f"{live_server.url}/slack/metrics/"
