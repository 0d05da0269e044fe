"""The import refuses what Alertmanager refuses, and says where: each real configuration
with one key misspelled (in a receiver, a route, the root route) is refused with the line
and the key, amtool refuses it too, and the command writes nothing. A file setting every
key the import knows is loaded by amtool and by the import alike.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError

from django_slack_rules.contrib.alertmanager import (
    AlertmanagerConfigError,
    load_config,
    plan_file,
    plan_import,
)
from django_slack_rules.contrib.alertmanager.schema import CONFIG, ListOf, MapOf, Struct
from django_slack_rules.models import SlackIntegrationRule as Rule
from tests.test_alertmanager_import import AMTOOL_TIMEOUT, CONFIGS, amtool_path
from tests.utils import call

REAL = CONFIGS / "real"
REAL_CONFIGS = sorted(path.name for path in REAL.glob("*.yml"))
EVERY_KEY = [CONFIGS / "every_key.yml", CONFIGS / "every_key_files.yml"]


def amtool_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [amtool_path(), "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=AMTOOL_TIMEOUT,
        check=False,
    )


def typo(key: str) -> str:
    """A realistic misspelling: two letters swapped (``receiver`` → ``reeciver``), or a
    plural dropped (``slack_configs`` → ``slack_config``, as the awesome-prometheus-alerts
    sample shipped ``webhook_config``)."""
    if key.endswith("_configs"):
        return key[:-1]
    swapped = key[:2] + key[3] + key[2] + key[4:]
    return swapped if swapped != key else key + "x"


def misspell(text: str, line: int, key: str) -> str:
    lines = text.split("\n")
    assert key in lines[line - 1], (line, key, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(key, typo(key), 1)
    return "\n".join(lines)


def places(text: str) -> dict[str, tuple[int, str]]:
    """Where to misspell a key: (line, key) in a Slack receiver, a child route, the root."""
    config = load_config(text)
    receiver = next(r for r in config["receivers"] if r.get("slack_configs"))
    child = config["route"]["routes"][0]
    child_key = next(iter(child))
    root_key = next(k for k in config["route"] if k != "routes")
    return {
        "receiver": (receiver.key_lines["slack_configs"], "slack_configs"),
        "route": (child.key_lines[child_key], child_key),
        "root": (config["route"].key_lines[root_key], root_key),
    }


CASES = [(name, where) for name in REAL_CONFIGS for where in ("receiver", "route", "root")]


@pytest.fixture(scope="module")
def amtool_refusals(tmp_path_factory) -> dict[tuple[str, str], str]:
    """amtool's answer to each misspelled configuration (one run each)."""
    folder = tmp_path_factory.mktemp("misspelled")
    out = {}
    for name, where in CASES:
        text = (REAL / name).read_text()
        line, key = places(text)[where]
        path = folder / f"{where}-{name}"
        path.write_text(misspell(text, line, key))
        done = amtool_check(path)
        assert done.returncode != 0, f"amtool loads {path.name}: the misspelling is no test"
        out[(name, where)] = done.stdout + done.stderr
    return out


@pytest.mark.parametrize(("name", "where"), CASES)
def test_a_misspelled_key_is_refused_with_its_line(name, where, amtool_refusals):
    text = (REAL / name).read_text()
    line, key = places(text)[where]
    wrong = typo(key)
    said = f"line {line}: field {wrong} not found"
    assert said in amtool_refusals[(name, where)]

    with pytest.raises(AlertmanagerConfigError) as caught:
        plan_import(load_config(misspell(text, line, key)), source=name)
    message = str(caught.value)
    assert f"line {line}: " in message
    assert f"unknown key {wrong!r}" in message
    assert f"did you mean {key!r}" in message
    assert said in message  # what Alertmanager says, word for word
    assert "Nothing was imported." in message


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "where"), CASES)
def test_the_command_writes_nothing_for_a_misspelled_configuration(name, where, tmp_path):
    text = (REAL / name).read_text()
    line, key = places(text)[where]
    path = tmp_path / name
    path.write_text(misspell(text, line, key))
    with pytest.raises(CommandError, match=rf"line {line}: .*unknown key '{typo(key)}'"):
        call("slack_rules_import", "--alertmanager", str(path), "--apply")
    assert not Rule.objects.exists()


def test_the_typo_awesome_prometheus_alerts_shipped_is_refused():
    """Its sample had ``webhook_config:``: the 'sms' receiver sent nowhere, and the plan said
    the rules route every label set as Alertmanager does."""
    text = (REAL / "awesome-prometheus-alerts.yml").read_text()
    shipped = text.replace("    webhook_configs:", "    webhook_config:")
    line = shipped.split("\n").index("    webhook_config:") + 1
    with pytest.raises(AlertmanagerConfigError) as caught:
        plan_import(load_config(shipped))
    assert f"line {line}: receivers[1] ('sms'): unknown key 'webhook_config'" in str(caught.value)
    assert "did you mean 'webhook_configs'?" in str(caught.value)


# -- every key the import knows is one Alertmanager reads --------------------------------


def schema_keys(kind: Any, out: dict[tuple[int, str], str] | None = None) -> dict:
    """Every (struct, key) of the schema, with the struct's Go name, for the message."""
    out = {} if out is None else out
    if isinstance(kind, Struct):
        if any(struct_id == id(kind) for struct_id, _ in out):
            return out
        for name in kind.fields:
            out[(id(kind), name)] = f"{kind.go}.{name}"
        for inner in kind.fields.values():
            schema_keys(inner, out)
    elif isinstance(kind, ListOf):
        schema_keys(kind.item, out)
    elif isinstance(kind, MapOf):
        schema_keys(kind.value, out)
    return out


def keys_set(value: Any, kind: Any, out: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """The (struct, key) pairs a parsed file sets."""
    if isinstance(kind, Struct) and isinstance(value, dict):
        for name, inner in value.items():
            out.add((id(kind), name))
            keys_set(inner, kind.fields[name], out)
    elif isinstance(kind, ListOf) and isinstance(value, list):
        for item in value:
            keys_set(item, kind.item, out)
    elif isinstance(kind, MapOf) and isinstance(value, dict):
        for item in value.values():
            keys_set(item, kind.value, out)
    return out


@pytest.mark.parametrize("path", EVERY_KEY, ids=lambda p: p.name)
def test_amtool_and_the_import_load_the_file_of_every_key(path):
    done = amtool_check(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert plan_file(path).rules


def test_the_files_of_every_key_set_every_key_of_the_schema():
    """So the schema cannot list a key Alertmanager 0.25 refuses: amtool loads both files."""
    wanted = schema_keys(CONFIG)
    found: set[tuple[int, str]] = set()
    for path in EVERY_KEY:
        keys_set(load_config(path.read_text()), CONFIG, found)
    missing = sorted(name for pair, name in wanted.items() if pair not in found)
    assert missing == [], missing


# -- other files Alertmanager refuses, refused alike ---------------------------------------

HEAD = "global:\n  slack_api_url: http://127.0.0.1:9/x\n"
SLACK = "receivers:\n  - name: a\n    slack_configs: [{channel: '#a'}]\n"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (HEAD + "route:\n  receiver: a\n  receiver: a\n" + SLACK, ["line 5: ", "given twice"]),
        (HEAD + "route:\n  receiver: a\n  routes: x\n" + SLACK, ["line 5: route.routes", "list"]),
        (HEAD + "route:\n  receiver: a\n  group_wait: 5x\n" + SLACK, ["not a valid duration"]),
        (HEAD + "route:\n  receiver: a\n  repeat_interval: 0s\n" + SLACK, ["cannot be zero"]),
        (HEAD + "route:\n  receiver: a\n  group_by: [a, a]\n" + SLACK, ["duplicated label"]),
        (
            HEAD + "route:\n  receiver: a\n  routes:\n    - continue: maybe\n" + SLACK,
            ["line 6: route.routes[0].continue must be true or false"],
        ),
        (
            "route:\n  receiver: a\n" + SLACK,
            ["line 5: receivers[0] ('a').slack_configs[0]: set api_url or api_url_file", "global"],
        ),
        (
            HEAD + "route:\n  receiver: a\n  routes:\n    - mute_time_intervals: [night]\n" + SLACK,
            ["line 6: route.routes[0].mute_time_intervals", "undefined time interval"],
        ),
        (
            HEAD
            + "route:\n  receiver: a\n  active_time_intervals: [x]\n"
            + SLACK
            + "time_intervals:\n  - name: x\n",
            ["root route must not have active_time_intervals"],
        ),
        (
            HEAD
            + "route:\n  receiver: a\n"
            + SLACK.replace("'#a'", "'#a', http_config: {prxy_url: x}"),
            ["line 7: ", "unknown key 'prxy_url'", "did you mean 'proxy_url'"],
        ),
        (
            HEAD + "route:\n  receiver: a\nreceivers:\n  - name: a\n  - slack_configs: []\n",
            ["receivers[1] has no name", "missing name in receiver"],
        ),
    ],
)
def test_what_amtool_refuses_the_import_refuses(text, words, tmp_path):
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    done = amtool_check(path)
    assert done.returncode != 0, "amtool loads it: not a refusal to copy"
    with pytest.raises(AlertmanagerConfigError) as caught:
        plan_file(path)
    for word in words:
        assert word in str(caught.value)
