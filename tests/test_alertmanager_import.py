"""Importing an Alertmanager configuration (django_slack_rules.contrib.alertmanager),
proved against the real thing: ``amtool config routes test`` (Debian's
prometheus-alertmanager) says which receivers Alertmanager picks for a label set; the
planned rules, ranked and fanned out as the package does, must pick the same Slack
receivers in the same order. No database.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_slack_rules.contrib.alertmanager import (
    DEFAULT_MESSAGE,
    INEXACT,
    NOT_IMPORTED,
    NOTE,
    AlertmanagerConfigError,
    ImportPlan,
    MissingDependency,
    UnsupportedTemplate,
    convert,
    load_config,
    plan_file,
    plan_import,
)
from django_slack_rules.matchers import parse_criteria
from django_slack_rules.rendering.templates import template_error
from django_slack_rules.validators import CHANNEL_ID_RE, CHANNEL_NAME_RE

CONFIGS = Path(__file__).resolve().parent / "alertmanager_configs"
AMTOOL_TIMEOUT = 10


def amtool_path() -> str:
    found = shutil.which("amtool")
    if not found:
        pytest.fail(
            "amtool is not installed; it comes with Debian's prometheus-alertmanager: "
            "apt-get install prometheus-alertmanager (.ci/run installs it)"
        )
    return found


def amtool_receivers(config: Path, labels: dict[str, str]) -> list[str]:
    """The receivers Alertmanager routes ``labels`` to, in order (amtool's answer)."""
    escaped = {k: v.replace("\\", "\\\\").replace('"', '\\"') for k, v in labels.items()}
    args = [amtool_path(), "config", "routes", "test", f"--config.file={config}"]
    args += [f'{name}="{value}"' for name, value in escaped.items()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=AMTOOL_TIMEOUT, check=False)
    assert done.returncode == 0, f"amtool failed for {labels}: {done.stderr}"
    out = done.stdout.strip()
    return out.split(",") if out else []


def slack_receivers(config: Path) -> set[str]:
    data = load_config(config.read_text())
    return {r["name"] for r in data["receivers"] if r.get("slack_configs")}


@functools.cache
def planned(config: Path) -> tuple[ImportPlan, frozenset[str]]:
    return plan_file(config), frozenset(slack_receivers(config))


def compare(config: Path, label_sets: list[dict[str, str]]) -> list[tuple[dict, list, list]]:
    """(labels, Alertmanager's Slack receivers, the plan's) for each label set that differs."""
    plan, slack = planned(config)
    if len(label_sets) == 1:
        answers = [amtool_receivers(config, label_sets[0])]
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda labels: amtool_receivers(config, labels), label_sets))
    differences = []
    for labels, answer in zip(label_sets, answers):
        expected = [r for r in answer if r in slack]
        got = plan.receivers_for(labels)
        if expected != got:
            differences.append((labels, expected, got))
    return differences


# Label sets that walk every branch of the sample configurations (and then some).
HAND_PICKED = {
    "nested.yml": [
        {},
        {"team": "db"},
        {"team": "db", "severity": "critical"},
        {"team": "db", "severity": "page", "env": "staging"},
        {"team": "db", "env": "staging"},
        {"team": "db", "severity": "info", "env": "prod"},
        {"service": "web"},
        {"service": "api", "severity": "info"},
        {"service": "api", "severity": "critical"},
        {"service": "apix", "severity": "critical"},
        {"team": "ops", "env": "prod"},
        {"team": "", "env": "prod"},
        {"env": "prod"},
        {"severity": "page"},
        {"severity": "page", "team": "ops", "env": "prod"},
        {"severity": "page", "team": "db", "env": "staging"},
    ],
    "continue.yml": [
        {},
        {"severity": "critical"},
        {"severity": "critical", "team": "db", "env": "prod"},
        {"severity": "critical", "team": "db", "env": "staging"},
        {"severity": "critical", "team": "web"},
        {"severity": "critical", "team": "web", "env": "prod"},
        {"severity": "critical", "env": "prod"},
        {"severity": "critical", "env": "dev"},
        {"team": "db"},
        {"team": "db", "env": "prod"},
        {"team": "db", "env": "prod", "region": "eu"},
        {"team": "db", "env": "prod", "region": "us"},
        {"team": "web", "env": "dev"},
        {"env": "dev"},
        {"severity": "critical", "team": "db", "env": "prod", "region": "eu"},
    ],
    "absorb.yml": [
        {},
        {"severity": "page"},
        {"severity": "page", "team": "db"},
        {"severity": "page", "team": "ops"},
        {"team": "db"},
        {"alertname": "Watchdog"},
        {"alertname": "Watchdog", "team": "db"},
        {"alertname": "DiskFull"},
        {"alertname": "DiskFull", "severity": "page", "team": "web"},
        {"alertname": "DiskFull", "severity": "page", "team": "ops"},
    ],
    "features.yml": [
        {},
        {"team": "ops"},
        {"team": "sre"},
        {"team": "custom"},
        {"team": "both"},
        {"team": "other"},
    ],
}

VOCABULARY = {
    "team": ["db", "web", "ops", "both", ""],
    "severity": ["critical", "page", "info"],
    "env": ["prod", "staging", "dev"],
    "service": ["web", "api"],
    "region": ["eu", "us"],
    "alertname": ["Watchdog", "DiskFull"],
}


@pytest.mark.parametrize("config", sorted(HAND_PICKED))
def test_the_plan_routes_as_alertmanager_does(config):
    path = CONFIGS / config
    assert plan_file(path).exact
    assert compare(path, HAND_PICKED[config]) == []


label_sets = st.fixed_dictionaries(
    {},
    optional={name: st.sampled_from(values) for name, values in VOCABULARY.items()},
)


@pytest.mark.parametrize("config", ["nested.yml", "continue.yml", "absorb.yml"])
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(labels=label_sets)
def test_generated_label_sets_route_as_alertmanager_does(config, labels):
    """Each example is one amtool run (a subprocess), so the count stays small."""
    assert compare(CONFIGS / config, [labels]) == []


def test_label_values_that_need_quoting_reach_amtool_intact():
    labels = {"team": 'd"b', "env": "prod, eu\\x"}
    config = CONFIGS / "nested.yml"
    assert amtool_receivers(config, labels) == ["slack-default"]
    assert compare(config, [labels, {"team": "db", "severity": "page", "env": 'a"b'}]) == []


def test_known_inexact_flattening_is_reported_and_is_where_it_differs():
    path = CONFIGS / "inexact.yml"
    plan = plan_file(path)
    assert not plan.exact
    assert plan.routes_reported(INEXACT) == {"route"}
    inexact = next(line for line in plan.report if line.level == INEXACT)
    assert "route.routes[0], route.routes[1], route.routes[2]" in inexact.message
    assert "The rules do NOT route every label set" in plan.format()
    # Alertmanager: a matching child (continue) keeps the alert from the default route;
    # the plan's default rule has no way to know, as the report said.
    differences = compare(path, [{"a": "1", "b": "1", "c": "1"}, {"a": "1"}, {}])
    assert differences == [
        ({"a": "1", "b": "1", "c": "1"}, ["slack-one"], ["slack-one", "slack-default"])
    ]


# ------------------------------------------------------------------------- the plan


def plan_text(text: str, **options) -> ImportPlan:
    return plan_import(load_config(text), **options)


GLOBAL = "global:\n  slack_api_url: http://127.0.0.1:9/SECRETPATH\n"


def test_rules_are_ranked_depth_first_parents_after_children():
    plan = plan_file(CONFIGS / "nested.yml")
    routes = [rule.route for rule in plan.rules]
    assert routes == [
        "route.routes[0].routes[0]",
        "route.routes[0]",
        "route.routes[1].routes[0]",
        "route.routes[1]",
        "route.routes[2]",
        "route",
    ]
    priorities = [rule.priority for rule in plan.rules]
    assert priorities == sorted(priorities, reverse=True)
    assert priorities[-1] == 10
    assert len(set(priorities)) == len(priorities)
    oncall = plan.rules[0]
    assert oncall.match_criteria == ['team="db"', 'severity=~"critical|page"', 'env!="staging"']
    assert oncall.name == "slack-db-oncall [route.routes[0].routes[0]]"
    # the criteria are the list form the model stores: they parse back to the same matchers
    for rule in plan.rules:
        assert parse_criteria(rule.match_criteria) == rule.matchers


def test_priority_range_and_name_prefix_are_options():
    plan = plan_import(
        load_config((CONFIGS / "nested.yml").read_text()),
        lowest_priority=1000,
        priority_step=5,
        name_prefix="am: ",
    )
    assert [r.priority for r in plan.rules][-2:] == [1005, 1000]
    assert all(r.name.startswith("am: ") for r in plan.rules)


def test_continue_and_several_slack_configs_fan_out():
    plan = plan_file(CONFIGS / "continue.yml")
    by_name = {rule.name: rule for rule in plan.rules}
    assert by_name["slack-teams [route.routes[1]]"].continue_matching
    mirror = [r for r in plan.rules if r.receiver == "slack-db-prod"]
    assert [(r.slack_channel, r.continue_matching) for r in mirror] == [
        ("#db-prod", True),
        ("#db-prod-mirror", False),
    ]
    labels = {"team": "db", "env": "prod"}
    assert [r.slack_channel for r in plan.select(labels)] == [
        "#teams",
        "#db-prod",
        "#db-prod-mirror",
    ]


def test_negations_keep_non_slack_routes_alerts_away_and_are_reported():
    plan = plan_file(CONFIGS / "absorb.yml")
    db = next(r for r in plan.rules if r.receiver == "slack-db")
    assert db.match_criteria == ['team="db"', 'severity!="page"']
    default = [r for r in plan.rules if r.receiver == "slack-default"]
    assert [r.name for r in default] == [
        "slack-default [route] (1/2)",
        "slack-default [route] (2/2)",
    ]
    notes = {line.where: line.message for line in plan.report if line.level == NOTE}
    assert "route.routes[0] (not Slack)" in notes["route.routes[1]"]
    assert 'added severity!="page"' in notes["route.routes[1]"]


def test_unreachable_routes_get_no_rule():
    plan = plan_text(
        GLOBAL
        + """
route:
  receiver: a
  routes:
    - receiver: b
    - matchers: [x="1"]
      receiver: a
    - matchers: [x="1", x="2"]
      receiver: b
receivers:
  - name: a
    slack_configs: [{channel: '#a'}]
  - name: b
    slack_configs: [{channel: '#b'}]
"""
    )
    assert [r.route for r in plan.rules] == ["route.routes[0]"]
    messages = {line.where: line.message for line in plan.report}
    assert "route.routes[0] before it has no matchers" in messages["route.routes[1]"]
    assert "route.routes[0] before it has no matchers" in messages["route"]


def test_what_rules_do_not_do_is_reported_route_by_route():
    plan = plan_file(CONFIGS / "features.yml")
    lost: dict[str, str] = {}
    for line in plan.report:
        if line.level == NOT_IMPORTED:
            lost[line.where] = lost.get(line.where, "") + line.message
    assert "group_by, group_wait, repeat_interval" in lost["route"]
    assert "mute_time_intervals (nights)" in lost["route.routes[0]"]
    assert "active_time_intervals (nights)" in lost["route.routes[1]"]
    assert "inhibition" in lost["inhibit_rules[0]"]
    assert "email_configs" in lost["receiver 'email-default'"]
    assert "is a template" in lost["receiver 'slack-sre' slack_configs[0]"]
    assert "'@someone'" in plan.format()
    assert plan.exact  # none of that changes which receivers get an alert
    # the default route is email: alerts of no team go nowhere, as in Alertmanager
    assert plan.select({"team": "nobody"}) == []


def test_templates_channels_and_send_resolved():
    plan = plan_file(CONFIGS / "features.yml")
    ops, sre, custom, both_a, both_b = plan.rules
    assert ops.slack_channel == "#ops"
    assert ops.message_template == (
        '*{% if status == "firing" %}:fire:{% else %}:ok:{% endif %} {{ labels.alertname }}*\n'
        "*{{ labels.instance }}*: {{ annotations.description }}"
    )
    assert ops.resolved_message_template == ops.message_template  # send_resolved: true
    assert sre.slack_channel == ""
    assert sre.message_template == DEFAULT_MESSAGE
    assert sre.resolved_message_template == ""  # Alertmanager's default: no resolved message
    assert '{{ template "sre.text" . }}' in sre.description
    assert custom.slack_channel == ""
    assert custom.message_template == DEFAULT_MESSAGE
    assert (both_a.slack_channel, both_b.slack_channel) == ("#both-a", "#both-b")
    for rule in plan.rules:
        assert template_error(rule.message_template) is None
        assert rule.slack_channel == "" or CHANNEL_NAME_RE.match(rule.slack_channel)


def test_a_bare_channel_name_gets_its_hash():
    plan = plan_file(CONFIGS / "nested.yml")
    assert next(r for r in plan.rules if r.receiver == "slack-web").slack_channel == "#web"


def test_webhook_urls_never_reach_the_plan():
    plan = plan_file(CONFIGS / "features.yml")
    shown = plan.format() + "".join(str(r.model_fields()) for r in plan.rules)
    assert "SECRETPATH" not in shown
    assert "127.0.0.1:9" not in shown


def test_planned_rules_fit_the_model():
    from django_slack_rules.models import SlackIntegrationRule

    fields = {f.name for f in SlackIntegrationRule._meta.get_fields()}
    plan = plan_file(CONFIGS / "continue.yml")
    for rule in plan.rules:
        values = rule.model_fields()
        # continue_matching is the new field the integration adds to the model
        assert set(values) - {"continue_matching"} <= fields
        assert len(values["name"]) <= SlackIntegrationRule._meta.get_field("name").max_length
        channel = values["slack_channel"]
        assert channel == "" or CHANNEL_NAME_RE.match(channel) or CHANNEL_ID_RE.match(channel)


def test_long_receiver_names_are_cut_and_stay_unique():
    long = "r" * 300
    plan = plan_text(
        GLOBAL
        + f"""
route:
  receiver: {long}
  routes:
    - matchers: [a="1"]
    - matchers: [a="2"]
receivers:
  - name: {long}
    slack_configs: [{{channel: '#a'}}, {{channel: '#b'}}]
"""
    )
    names = [r.name for r in plan.rules]
    assert len(names) == 6
    assert len(set(names)) == 6
    assert all(len(n) <= 255 for n in names)
    assert names[0].endswith("[route.routes[0]] #1")


def test_scalars_stay_strings_as_in_go():
    plan = plan_text(
        GLOBAL
        + """
route:
  receiver: a
  routes:
    - match: {code: 500, flag: yes, none: ~, ver: 1.10}
      continue: yes
receivers:
  - name: a
    slack_configs: [{channel: '#a', send_resolved: on}]
"""
    )
    first = plan.rules[0]
    assert first.match_criteria == ['code="500"', 'flag="yes"', 'none="~"', 'ver="1.10"']
    assert first.continue_matching
    assert first.resolved_message_template


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("route: [", ["not valid YAML"]),
        ("- a", ["expected a mapping with 'route' and 'receivers'"]),
        ("receivers: []", ["no 'route'"]),
        ("route: {}\nreceivers: []", ["root route must name a receiver"]),
        ("route: {receiver: x}\nreceivers: []", ["no receiver named 'x'"]),
        (
            "route: {receiver: a, matchers: ['x=1']}\nreceivers: [{name: a}]",
            ["root route must not have matchers"],
        ),
        (
            "route: {receiver: a, routes: [{matchers: ['x 1']}]}\nreceivers: [{name: a}]",
            ["route.routes[0].matchers[0]", "expected one of =, !=, =~, !~"],
        ),
        (
            "route: {receiver: a, routes: [{match_re: {x: '(a)\\1'}}]}\nreceivers: [{name: a}]",
            ["route.routes[0].match_re.x", "Backreferences"],
        ),
        (
            "route: {receiver: a, routes: [{match: {'a.b': x}}]}\nreceivers: [{name: a}]",
            ["route.routes[0].match.a.b", "not a label name"],
        ),
        (
            "route: {receiver: a, routes: [{continue: maybe}]}\nreceivers: [{name: a}]",
            ["route.routes[0].continue must be true or false"],
        ),
        ("route: {receiver: a}\nreceivers: [{name: a}, {name: a}]", ["used twice"]),
    ],
)
def test_configuration_errors_name_the_place(text, words):
    with pytest.raises(AlertmanagerConfigError) as caught:
        plan_text(text)
    for word in words:
        assert word in str(caught.value)


def test_an_unreadable_file_is_a_clear_error(tmp_path):
    with pytest.raises(AlertmanagerConfigError, match="cannot read"):
        plan_file(tmp_path / "missing.yml")


def test_missing_pyyaml_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(MissingDependency) as caught:
        load_config("route: {}")
    assert 'pip install "django-slack-rules[alertmanager]"' in str(caught.value)
    assert isinstance(caught.value, ImportError)


# ---------------------------------------------------------------------- Go templates


@pytest.mark.parametrize(
    ("go", "django"),
    [
        ("{{ .Status }}", "{{ status }}"),
        ("{{ .Status | toUpper }}", "{{ status|upper }}"),
        ("{{ .CommonLabels.alertname }}", "{{ labels.alertname }}"),
        ("{{ .GroupLabels.job | toLower }}", "{{ labels.job|lower }}"),
        ('{{ index .CommonLabels "instance" }}', "{{ labels.instance }}"),
        ("{{ .CommonAnnotations.summary }}", "{{ annotations.summary }}"),
        (
            "{{ range .Alerts }}{{ .Labels.job }} since {{ .StartsAt }}{{ end }}",
            "{{ labels.job }} since {{ started_at }}",
        ),
        ("{{ range .Alerts }}{{ $.CommonLabels.x }}{{ end }}", "{{ labels.x }}"),
        (
            '{{ if eq .Status "firing" }}F{{ else }}R{{ end }}',
            '{% if status == "firing" %}F{% else %}R{% endif %}',
        ),
        (
            '{{ if ne .CommonLabels.env "prod" }}test {{ else if .CommonAnnotations.runbook }}rb{{ end }}',
            '{% if labels.env != "prod" %}test {% elif annotations.runbook %}rb{% endif %}',
        ),
        ("a {{- /* note */ -}}  b", "ab"),
        ("{{ .Receiver }}", "team-db"),
        (
            "100% {done} {% raw %} }}",
            "100% {done} {% templatetag openblock %} raw {% templatetag closeblock %} {% templatetag closevariable %}",
        ),
        ('{{ template "slack.default.text" . }}', ""),
    ],
)
def test_simple_go_templates_convert(go, django):
    assert convert(go, receiver="team-db").template == django
    assert template_error(django) is None


@pytest.mark.parametrize(
    "go",
    [
        "{{ len .Alerts }}",
        "{{ .ExternalURL }}",
        "{{ range .Alerts.Firing }}x{{ end }}",
        '{{ template "custom" . }}',
        "{{ .CommonLabels.__name__ }}",
        "{{ with .CommonLabels }}x{{ end }}",
        "{{ .Labels.x }}",  # outside a range over .Alerts
        "{{ if .Status }}",  # no end
        '{{ printf "%s" .Status }}',
        "{{ .Status",
    ],
)
def test_everything_else_is_refused_not_guessed(go):
    with pytest.raises(UnsupportedTemplate):
        convert(go)


def test_default_message_compiles():
    assert template_error(DEFAULT_MESSAGE) is None
