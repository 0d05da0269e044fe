#!/usr/bin/env python3
"""The demo: sample Alertmanager alerts become Slack messages, with one command.

    python3 example_project/demo.py --bot        # bot mode: threads and updates too
    python3 example_project/demo.py              # webhook mode; then leaves the web UI running
    python3 example_project/demo.py --no-serve   # runs the flow, checks it, exits

On the first run it creates ``example_project/.venv`` and installs django-slack-rules
from this tree (and the example's requirements) into it, then runs itself there.

The flow: migrate a fresh SQLite database in a temporary folder, load the demo's
rules and silence, start a fake Slack (it prints what it receives the way Slack
shows it), a real Celery worker (kombu's filesystem broker: no server), and the
web app (runserver on 127.0.0.1); post Alertmanager payloads to the webhook, wait
for the Slack messages and print them. The package's real InternalProxyBackend
posts to the fake Slack, which stands where nginx and Slack stand in production.
With ``--bot`` the gateway is in bot mode (``SLACK_RULES["GATEWAY_MODE"] = "bot"``): the
fake Slack speaks the Web API (``chat.postMessage``, ``chat.update``, with ts and channel
ids), and the database alert's resolution is a reply in its firing message's thread and an
update of that message. The critical alert's message has buttons, and the fake Slack's user
clicks *Acknowledge*: a signed click to the example's ``/slack/actions/`` (with a signing
secret made up for this run), which acknowledges the alert in the host and updates the
message.

Exit status with --no-serve: 0 when exactly the expected messages arrived (and, with
--bot, the click acknowledged the alert), 1 when not, 130 on Ctrl-C. Ctrl-C stops everything the demo started.
"""

from __future__ import annotations

import sys

if sys.version_info < (3, 10):
    sys.exit(f"The demo needs Python 3.10 or later; this is {sys.version.split()[0]}.")

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
SAMPLES = HERE / "samples"
WEBHOOK_PATH = "/alerts/api/v1/webhook/"
QUEUE = "alerts"  # SentryHub's default Celery queue
START_TIMEOUT = 90.0  # seconds for the worker or the web app to come up
MESSAGE_TIMEOUT = 45.0  # seconds for the expected Slack messages of one step
SETTLE = 2.0  # seconds to wait for unexpected extra messages at the end
DEMO_USER = "demo"
DEMO_EMAIL = "demo@example.com"
ACTIONS_PATH = "/slack/actions/"  # django_slack_rules:slack-actions (config/urls.py)
ACKNOWLEDGE = "dsr_acknowledge"  # the action_id of the package's Acknowledge button


# --- bootstrap: the virtualenv -------------------------------------------------------


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def bootstrap(argv: list[str]) -> None:
    """Create the virtualenv and install into it when needed, then run this script in it."""
    python = venv_python()
    if not python.exists():
        print(f"==> Creating a virtualenv in {VENV}")
        shutil.rmtree(VENV, ignore_errors=True)
        done = subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=False)
        if done.returncode != 0:
            sys.exit(
                "Could not create the virtualenv. On Debian or Ubuntu install the venv module "
                "first: sudo apt install python3-venv"
            )
    requirements = HERE / "requirements.txt"
    digest = hashlib.sha256(
        (REPO / "pyproject.toml").read_bytes() + requirements.read_bytes()
    ).hexdigest()
    stamp = VENV / ".demo-installed"
    if not stamp.exists() or stamp.read_text() != digest:
        print("==> Installing django-slack-rules from this tree (the first run takes a minute)")
        command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*command, "-e", str(REPO), "-r", str(requirements)], check=True)
        stamp.write_text(digest)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *argv])


# --- output --------------------------------------------------------------------------

COLOR = sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def style(text: str, code: str) -> str:
    return f"\033[{code}m{text}\033[0m" if COLOR else text


def heading(text: str) -> None:
    print(f"\n{style('==> ' + text, '1')}", flush=True)


def say(text: str = "") -> None:
    print(text, flush=True)


# --- the processes -------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Demo:
    state: Path
    env: dict[str, str]
    children: list[Child] = field(default_factory=list)

    def manage(self, *args: str, quiet: bool = True) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=HERE,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise DemoError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        if not quiet:
            say(done.stdout.rstrip())
        return done.stdout

    def start(self, name: str, command: list[str]) -> Child:
        log = self.state / f"{name}.log"
        with log.open("wb") as out:
            # A session of its own: Ctrl-C reaches the demo only, which stops the children
            # in order (and on any error).
            process = subprocess.Popen(
                command,
                cwd=HERE,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.terminate()
        for child in reversed(self.children):
            try:
                child.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait(timeout=5)
        self.children.clear()

    def check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                raise DemoError(
                    f"The {child.name} exited with status {child.process.returncode}:\n"
                    f"{child.tail()}"
                )


class DemoError(Exception):
    pass


def wait_until(condition: Any, timeout: float, what: str, demo: Demo) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        demo.check_alive()
        if time.monotonic() > deadline:
            raise DemoError(f"Timed out after {timeout:g}s waiting for {what}.")
        time.sleep(0.1)


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise DemoError("No free TCP port on 127.0.0.1.")


def http_get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def post_json(url: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"null")
        except ValueError:  # an error page, not the webhook's JSON answer
            return exc.code, {"error": body.decode(errors="replace")[:2000]}


# --- the story -----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    title: str
    sample: str
    why: str
    #: (channel, text the message contains, what it does: post, reply or update)
    expect: tuple[tuple[str, str, str], ...]
    #: In bot mode, when it differs.
    expect_bot: tuple[tuple[str, str, str], ...] | None = None
    why_bot: str = ""

    def expected(self, bot: bool) -> tuple[tuple[str, str, str], ...]:
        return self.expect_bot if bot and self.expect_bot is not None else self.expect


RESOLVED_TEXT = "DatabaseConnectionFailure* on `db-server-03:3306` is resolved"
STEPS = (
    Step(
        "A critical alert",
        "high_cpu_critical.json",
        "matches the high-priority rule 'Critical alerts' (severity=critical, priority 100)",
        (("#oncall", "HighCPUUsage", "post"),),
    ),
    Step(
        "A warning that no specific rule matches",
        "one_fireing_alert.json",
        "caught by the catch-all rule 'Everything else' ({} matches every alert, priority 0)",
        (("#alerts", "NodeExporterNotScrape8", "post"),),
    ),
    Step(
        "A silenced alert (Alertmanager sent it twice)",
        "two_time_firing.json",
        "instance=10.1.1.11:9100 is in the silence 'Maintenance of 10.1.1.11': stored, not posted",
        (),
    ),
    Step(
        "A database alert fires",
        "db_failure_firing.json",
        "'Database team' (category=database, priority 200) outranks 'Critical alerts'",
        (("#db-team", "DatabaseConnectionFailure* is firing", "post"),),
    ),
    Step(
        "... and resolves",
        "db_failure_resolved.json",
        "the winning rule has a resolved template, so the resolution is posted too",
        (("#db-team", RESOLVED_TEXT, "post"),),
        expect_bot=(("#db-team", RESOLVED_TEXT, "reply"), ("#db-team", RESOLVED_TEXT, "update")),
        why_bot="the rule replies in the firing message's thread and updates that message",
    ),
)
SILENCED_ALERT = "NodeExporterNotScrapeNew"


@dataclass(frozen=True)
class Clicker:
    """Bot mode: who clicks in the fake Slack, and the signing secret Slack signs with."""

    user: Any  # a slack_web_api.SlackUser
    secret: str


def run_story(demo: Demo, printer: Any, web_url: str, clicker: Clicker | None = None) -> bool:
    from slack_printer import format_message

    bot = clicker is not None
    ok = True
    expected_total = 0
    steps = len(STEPS) + bot  # bot mode: and a click
    for number, step in enumerate(STEPS, 1):
        why = step.why_bot if bot and step.why_bot else step.why
        heading(f"[{number}/{steps}] {step.title}: {why}")
        expect = step.expected(bot)
        before = len(printer.messages)
        status, answer = post_json(web_url + WEBHOOK_PATH, (SAMPLES / step.sample).read_bytes())
        stored = answer.get("alerts", []) if isinstance(answer, dict) else []
        silenced = sum(1 for item in stored if item.get("silenced"))
        say(
            f"    POST {WEBHOOK_PATH} samples/{step.sample} -> HTTP {status}: "
            f"{len(stored)} alert(s) stored" + (f", {silenced} silenced" if silenced else "")
        )
        if status != 200:
            say(f"    unexpected answer: {answer}")
            ok = False
            continue
        expected_total += len(expect)
        if not expect:
            say(style("    Slack received nothing for it (silenced).", "2"))
            continue
        received = printer.wait_for(before + len(expect), MESSAGE_TIMEOUT)[before:]
        demo.check_alive()
        say("    Slack received:")
        for message in received:
            say(indent(format_message(message, color=COLOR, names=printer.names), "    "))
        for channel, text, kind in expect:
            if not any(
                m.channel == channel and text in m.text and m.kind == kind for m in received
            ):
                say(style(f"    MISSING: a {kind} to {channel} containing {text!r}", "31"))
                ok = False

    if clicker is not None:
        heading(f"[{steps}/{steps}] Someone in #oncall clicks Acknowledge on the critical alert")
        ok = click_acknowledge(demo, printer, web_url, clicker) and ok
        expected_total += 1  # the message's update

    time.sleep(SETTLE)  # anything unexpected would arrive now
    messages = list(printer.messages)
    heading("Result")
    for message in messages:
        first_line = message.text.split("\n", 1)[0]
        say(f"    {message.channel:<10} {message.kind:<7} {first_line}")
    if len(messages) != expected_total:
        say(style(f"    Expected {expected_total} Slack messages, got {len(messages)}.", "31"))
        ok = False
    if any(SILENCED_ALERT in m.text for m in messages):
        say(style(f"    A message was posted for the silenced alert {SILENCED_ALERT}!", "31"))
        ok = False
    else:
        say(f"    No message for the silenced alert {SILENCED_ALERT}.")
    say("\n    Delivery log (admin: Slack rules -> Slack deliveries):")
    say(indent(demo.manage("shell", "-v", "0", "-c", DELIVERY_LOG).rstrip(), "    "))
    if ok:
        say(style(f"\nOK: Slack received the {expected_total} expected messages.", "1;32"))
    else:
        say(style("\nFAILED: Slack did not receive exactly the expected messages.", "1;31"))
    return ok


def click_acknowledge(demo: Demo, printer: Any, web_url: str, clicker: Clicker) -> bool:
    """The fake Slack's user clicks Acknowledge on the message that has the button, as Slack
    posts a click; True when the host acknowledged the alert and the message was updated."""
    from slack_click import click, find_element
    from slack_printer import format_message

    posted = [m for m in printer.messages if m.kind == "post"]
    message = next((m for m in posted if find_element(m, ACKNOWLEDGE)), None)
    if message is None:
        say(style("    MISSING: a message with an Acknowledge button", "31"))
        return False
    before = len(printer.messages)
    user = clicker.user
    status, answer = click(web_url + ACTIONS_PATH, message, ACKNOWLEDGE, user, clicker.secret)
    say(
        f"    @{user.name} ({user.id}) clicks [ Acknowledge ] on {message.ts} in "
        f"{message.channel}: Slack posts the click to {ACTIONS_PATH}, signed with the app's "
        f"signing secret -> HTTP {status}"
    )
    if status != 200:
        say(style(f"    unexpected answer: {answer.strip()}", "31"))
        return False
    received = printer.wait_for(before + 1, MESSAGE_TIMEOUT)[before:]
    demo.check_alive()
    say(
        f"    A worker maps {user.id} to the user {DEMO_USER!r} by email (users.info), "
        "acknowledges, and updates the message (chat.update):"
    )
    for shown in received:
        say(indent(format_message(shown, color=COLOR, names=printer.names), "    "))
    host = demo.manage("shell", "-v", "0", "-c", ACKNOWLEDGED).rstrip()
    say("    In the host (admin: Alerts -> Alert groups, and Slack rules -> Slack actions):")
    say(indent(host, "    "))
    updated = [m for m in received if m.kind == "update" and m.ts == message.ts]
    blocks = json.dumps(updated[0].blocks) if updated else ""
    ok = True
    if "Acknowledged by" not in blocks or ACKNOWLEDGE in blocks:
        say(
            style("    MISSING: the message updated to say who acknowledged, its button gone", "31")
        )
        ok = False
    if f"acknowledged by {DEMO_USER}" not in host:
        say(style(f"    MISSING: the alert acknowledged by {DEMO_USER} in the host", "31"))
        ok = False
    return ok


#: What the host shows once the click is done: the alert, its history, the click's record.
ACKNOWLEDGED = """
from alerts.models import AlertGroup
from django_slack_rules.models import SlackAction
for a in AlertGroup.objects.filter(acknowledged=True):
    print(f"{a.name}: acknowledged by {a.acknowledged_by} at {a.acknowledgement_time:%H:%M:%S}")
    for h in a.acknowledgement_history.all():
        print(f"  history: {h.acknowledged_by}, {h.comment!r}")
for c in SlackAction.objects.order_by("pk"):
    print(f"click {c.pk}: {c.action} by @{c.slack_user_name} as {c.user}: {c.state}, "
          f"Slack told: {c.notice_state}")
"""


DELIVERY_LOG = """
from django_slack_rules.models import SlackDelivery
for d in SlackDelivery.objects.order_by("pk"):
    under = f"  under delivery {d.parent_id}" if d.parent_id else ""
    print(f"{d.pk:>2} {d.channel:<10} {d.state:<8} {d.get_action_display():<12} "
          f"attempts={d.attempts}  rule={d.rule_name!r}  alert={d.fingerprint} "
          f"({d.alert_status}){under}")
"""


def indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.split("\n"))


# --- main ----------------------------------------------------------------------------


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(no_serve: bool, bot: bool = False) -> int:
    sys.path.insert(0, str(HERE))
    from slack_printer import SlackPrinter, format_message
    from slack_web_api import SlackUser

    # The demo's login user in Slack: users.info gives their email, which maps them.
    slack_user = SlackUser("U0DEMO", DEMO_USER, DEMO_EMAIL)
    state = Path(tempfile.mkdtemp(prefix="django-slack-rules-demo-"))
    printer = SlackPrinter(bot=bot, users=[slack_user]).start()
    port = free_port(8000)
    web_url = f"http://127.0.0.1:{port}"
    # The Slack app's signing secret, made up for this run: the web app verifies the clicks
    # with it (SLACK_SIGNING_SECRET), the fake Slack signs them.
    secret = secrets.token_hex(32)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "PYTHONPATH", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        EXAMPLE_STATE_DIR=str(state),
        CELERY_TASK_DEFAULT_QUEUE=QUEUE,
        SLACK_INTERNAL_ENDPOINT=f"{printer.url}/slack-proxy/",
        SLACK_GATEWAY_MODE="bot" if bot else "webhook",
        SLACK_SIGNING_SECRET=secret,
        SITE_URL=web_url,
        DJANGO_DEBUG="1",
        PYTHONUNBUFFERED="1",
    )
    demo = Demo(state=state, env=env)
    ok = False
    try:
        heading("Preparing the example host (SQLite, filesystem broker: no servers needed)")
        say(f"    state folder: {state}")
        say(f"    fake Slack:   {printer.url}/slack-proxy/  (SLACK_INTERNAL_ENDPOINT)")
        if bot:
            say("    gateway mode: bot (the fake Slack speaks the Web API: threads, updates)")
        else:
            say("    gateway mode: webhook (--bot shows thread replies and updates too)")
        demo.manage("migrate", "--noinput")
        demo.manage("load_demo_rules", *(["--bot"] if bot else []), quiet=False)
        password = secrets.token_urlsafe(9)
        demo.env.update(
            DJANGO_SUPERUSER_USERNAME=DEMO_USER,
            DJANGO_SUPERUSER_PASSWORD=password,
            DJANGO_SUPERUSER_EMAIL=DEMO_EMAIL,
        )
        demo.manage("createsuperuser", "--noinput")

        heading(f"Starting a Celery worker (queue {QUEUE!r}) and the web app")
        worker = demo.start(
            "worker",
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
                "--pool=solo", "-Q", QUEUE, "-n", f"demo-{os.getpid()}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
        )  # fmt: skip
        demo.start(
            "web", [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
        )
        wait_until(
            lambda: "ready." in worker.log.read_text(errors="replace"),
            START_TIMEOUT,
            "the Celery worker",
            demo,
        )
        wait_until(
            lambda: http_get_ok(web_url + "/accounts/login/"), START_TIMEOUT, "the web app", demo
        )
        say(f"    worker ready; web app at {web_url}")

        clicker = Clicker(slack_user, secret) if bot else None
        ok = run_story(demo, printer, web_url, clicker)
        if no_serve:
            return 0 if ok else 1

        heading("The web UI is running")
        say(f"    Rules:  {web_url}/slack/")
        say(
            f"    Log:    {web_url}/slack/deliveries/  (each message, its replies, updates, clicks)"
        )
        say(f"    Admin:  {web_url}/admin/  (alerts, silences)")
        say(f"    Log in: {DEMO_USER} / {password}")
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        alert = {
            "alerts": [
                {
                    "status": "firing",
                    "labels": {
                        "alertname": "MyFirstAlert",
                        "severity": "critical",
                        "instance": "my-host:9100",
                    },
                    "annotations": {"summary": "Posted by hand"},
                    "startsAt": now,
                }
            ]
        }
        say("    Post an alert yourself (the same occurrence twice posts once):")
        say(
            f"      curl -X POST -H 'Content-Type: application/json' "
            f"-d '{json.dumps(alert, separators=(',', ':'))}' {web_url}{WEBHOOK_PATH}"
        )
        say("    New Slack messages appear below. Press Ctrl-C to stop everything.")
        lock = threading.Lock()

        def show(message: Any) -> None:
            with lock:
                say(format_message(message, color=COLOR, names=printer.names))

        printer.on_message = show
        while True:
            demo.check_alive()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("\nStopping ...")
        return 130
    except DemoError as exc:
        say(style(f"\nThe demo failed: {exc}", "1;31"))
        return 1
    finally:
        if not ok:
            for child in demo.children:
                say(f"\n--- last lines of the {child.name} log ---\n{child.tail(40)}")
        demo.stop_all()
        printer.stop()
        shutil.rmtree(state, ignore_errors=True)
        say("Stopped the worker, the web app and the fake Slack.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Sample Alertmanager alerts become Slack messages (a fake Slack prints them)."
    )
    parser.add_argument(
        "--no-serve", action="store_true", help="run the flow, check it, and exit (CI)"
    )
    parser.add_argument(
        "--bot",
        action="store_true",
        help="the gateway in bot mode: the fake Slack speaks the Web API, and a resolution "
        "replies in its thread and updates the firing message",
    )
    args_list = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(args_list)
    if Path(sys.prefix).resolve() != VENV.resolve():
        bootstrap(args_list)  # does not return
    with stop_on_sigterm():
        return run(args.no_serve, args.bot)


if __name__ == "__main__":
    sys.exit(main())
