"""The rule pages in a real Chromium against a live server (tox env: browser).

Debian's Chromium (/usr/bin/chromium), driven by Playwright for Python. Each page is
saved as a PNG; set DSR_SCREENSHOTS_DIR (e.g. docs/screenshots) to keep them.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.db import connections

from django_slack_rules.backends import locmem
from django_slack_rules.models import (
    DeliveryState,
    SlackAction,
    SlackDelivery,
    SlackIntegrationRule,
)
from tests.actions_support import (
    SIGNING_SECRET,
    firing_alert,
    host_user,
    rule_with_buttons,
    send_with_buttons,
)
from tests.factories import RuleFactory
from tests.processes import wait_until
from tests.slack_clicks import ALICE, BOB, Click, post
from tests.ui_users import ALL_UI_PERMISSIONS, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the page screenshots go: $DSR_SCREENSHOTS_DIR, else a temporary directory."""
    target = os.environ.get("DSR_SCREENSHOTS_DIR")
    directory = Path(target) if target else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def page(monkeypatch, live_server) -> Iterator[object]:
    from playwright.sync_api import sync_playwright  # only installed in the browser env

    # Playwright's sync API runs an event loop in this thread; the ORM calls made by the
    # test itself are still synchronous and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
        # No page may need the network: only the live server answers.
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(live_server.url)
                else route.abort()
            ),
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
            _join_request_threads()
            # The ORM calls made while Playwright's loop ran used their own connection.
            connections.close_all()


def _join_request_threads() -> None:
    """Wait for the live server's request threads, now that the browser has hung up.

    Each keeps its database connection until its keep-alive connection ends; joining
    them lets PostgreSQL drop the test database with no session left open.
    """
    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        if getattr(target, "__name__", "") == "process_request_thread":
            thread.join(timeout=10)


def shot(page, directory: Path, name: str) -> None:
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


def test_an_operator_manages_rules_in_the_browser(
    page, live_server, slack_endpoint, screenshots, monkeypatch
):
    from playwright.sync_api import expect

    from django_slack_rules import tasks

    make_user(*ALL_UI_PERMISSIONS, username="ops", password="correct horse")
    RuleFactory(
        name="catch-all",
        priority=0,
        match_criteria={},
        slack_channel="#alerts",
        description="Everything no other rule takes",
    )
    RuleFactory(
        name="web-critical",
        priority=20,
        match_criteria={"team": "web", "severity": "critical"},
        slack_channel="#web-oncall",
    )

    # Log in: the pages send an anonymous user to the login page first.
    page.goto(f"{live_server.url}/slack/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/slack/")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Slack rules")).to_be_visible()

    # Create a rule with invalid JSON: the form says where it breaks; then fix it.
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Name").fill("database")
    page.get_by_label("Priority").fill("10")
    # The criteria are rows now; the JSON stays editable as text.
    page.get_by_text("Edit as text").click()
    page.get_by_label("Match criteria").fill('{"team": "db", "severity": critical}')
    page.get_by_label("Slack channel").fill("#db-alerts")
    page.locator("#id_message_template").fill(
        ":fire: *{{ alertname }}* on {{ instance }} ({{ labels.team }}): {{ summary }}"
    )
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#id_match_criteria_error")).to_contain_text(
        "This is not valid JSON: Expecting value at line 1, column 28"
    )
    assert not SlackIntegrationRule.objects.filter(name="database").exists()
    shot(page, screenshots, "rule-form-error")

    page.get_by_label("Match criteria").fill('{"team": "db", "severity": "critical"}')
    page.get_by_role("button", name="Save and preview").click()

    # Preview: the message as Slack shows it, without sending it.
    expect(page.get_by_role("heading", name="Preview: database")).to_be_visible()
    shown = page.locator(".dsr-slack .dsr-mrkdwn")
    expect(shown).to_have_text("🔥 HighCPU on web-1:9100 (db): CPU above 90% for 5 minutes")
    expect(shown.locator("strong")).to_have_text("HighCPU")
    page.get_by_label("Labels").fill(
        json.dumps(
            {"alertname": "DiskFull", "team": "db", "severity": "critical", "instance": "<db-1>"}
        )
    )
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(shown).to_have_text("🔥 DiskFull on <db-1> (db): CPU above 90% for 5 minutes")
    # The exact text Slack gets, escaped, is one click away.
    message = page.locator("pre.dsr-message")
    expect(message).to_be_hidden()
    page.get_by_text("Exact payload (JSON)").click()
    expect(message).to_have_text(
        ":fire: *DiskFull* on &lt;db-1&gt; (db): CPU above 90% for 5 minutes"
    )
    expect(page.locator("pre.dsr-payload")).to_contain_text('"channel": "#db-alerts"')
    assert slack_endpoint.requests == []
    shot(page, screenshots, "rule-preview")

    # Test send: through the configured backend to the fake Slack.
    page.get_by_role("button", name="Test send").click()
    expect(page.locator(".dsr-outcome")).to_contain_text("Sent to #db-alerts")
    (request,) = slack_endpoint.requests
    assert request.json() == {
        "channel": "#db-alerts",
        "text": ":fire: *DiskFull* on &lt;db-1&gt; (db): CPU above 90% for 5 minutes",
    }
    shot(page, screenshots, "rule-test-send")

    # Slack's error is shown with a hint, not a crash.
    slack_endpoint.respond_error(404, "channel_not_found")
    page.get_by_role("button", name="Test send").click()
    expect(page.locator(".dsr-outcome")).to_contain_text("channel_not_found")
    expect(page.locator(".dsr-outcome")).to_contain_text("What to do")

    # Edit: raise the priority above web-critical; the list is in priority order.
    page.get_by_role("link", name="Edit rule").click()
    page.get_by_label("Priority").fill("30")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text="Rule “database” saved.")).to_be_visible()
    rows = page.locator("tr.dsr-rule")
    expect(rows).to_have_count(3)
    assert [rows.nth(i).get_attribute("data-rule") for i in range(3)] == [
        "database",
        "web-critical",
        "catch-all",
    ]
    expect(rows.first.locator(".dsr-last-delivery")).to_contain_text("failed")
    shot(page, screenshots, "rule-list")

    # Match tester: paste labels, see who wins and why.
    page.get_by_role("link", name="Match tester", exact=True).click()
    page.get_by_label("Alert labels").fill(
        json.dumps({"alertname": "HighLatency", "team": "web", "severity": "critical"})
    )
    page.get_by_role("button", name="Find the rule").click()
    expect(page.locator(".dsr-winner")).to_contain_text("Rule web-critical wins")
    expect(page.locator(".dsr-winner")).to_contain_text("#web-oncall")
    candidates = page.locator(".dsr-candidates li")
    expect(candidates).to_have_count(2)
    expect(candidates.nth(1)).to_contain_text("catch-all")
    page.locator(".dsr-others summary").click()
    expect(page.locator(".dsr-others")).to_contain_text("team must be db (is web)")
    shot(page, screenshots, "match-tester")

    # Delivery log: the test sends are there; a failed one can be resent.
    queued = []
    monkeypatch.setattr(tasks, "enqueue", lambda task, *args: queued.append(args))
    page.get_by_role("link", name="Delivery log", exact=True).click()
    expect(page.locator("tr.dsr-delivery")).to_have_count(2)
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    failed_rows = page.locator("tr.dsr-delivery")
    expect(failed_rows).to_have_count(1)
    expect(failed_rows.first).to_contain_text("channel_not_found")
    shot(page, screenshots, "delivery-log")
    failed_rows.first.get_by_role("button", name="Resend").click()
    expect(page.get_by_role("alert").filter(has_text="1 delivery queued again.")).to_be_visible()
    failed = SlackDelivery.objects.get(slack_error="", state=DeliveryState.PENDING)
    assert queued == [(failed.pk,)]

    # Delete, with a confirmation page.
    page.get_by_role("link", name="Rules", exact=True).click()
    page.locator('tr[data-rule="catch-all"]').get_by_role("link", name="Delete").click()
    expect(page.get_by_text("Delete the rule “catch-all”?")).to_be_visible()
    shot(page, screenshots, "rule-confirm-delete")
    page.get_by_role("button", name="Yes, delete the rule").click()
    expect(page.get_by_role("alert").filter(has_text="Rule “catch-all” deleted.")).to_be_visible()
    expect(page.locator("tr.dsr-rule")).to_have_count(2)
    assert not SlackIntegrationRule.objects.filter(name="catch-all").exists()


def test_a_user_without_permission_is_refused(page, live_server):
    make_user("view_slackintegrationrule", username="viewer", password="pw")
    page.goto(f"{live_server.url}/accounts/login/?next=/slack/rules/new/")
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill("pw")
    with page.expect_response(f"{live_server.url}/slack/rules/new/") as answer:
        page.get_by_role("button", name="Log in").click()
    assert answer.value.status == 403


def test_the_empty_list_tells_what_to_do(page, live_server, client, screenshots):
    user = make_user(*ALL_UI_PERMISSIONS, username="first", password="pw")
    client.force_login(user)
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    page.goto(f"{live_server.url}/slack/")
    from playwright.sync_api import expect

    expect(page.get_by_text("No Slack rules yet")).to_be_visible()
    page.get_by_role("link", name="Create the first rule").click()
    expect(page.get_by_role("heading", name="New Slack rule")).to_be_visible()
    shot(page, screenshots, "rule-form")


def test_the_page_tabs_stay_readable_in_a_layout_that_styles_nav_links_for_its_sidebar(
    page, live_server, client, slack_rules
):
    """SentryHub's layout colours every .nav-link white for its dark sidebar; the pages'
    own tabs (Rules, Match tester, Delivery log) must still be readable on the page."""
    from playwright.sync_api import expect

    slack_rules(BASE_TEMPLATE="host_sidebar/base.html")
    client.force_login(make_user(*ALL_UI_PERMISSIONS, username="ops", password="pw"))
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    page.goto(f"{live_server.url}/slack/")
    expect(page.get_by_role("heading", name="Slack rules", exact=True)).to_be_visible()

    def luminance(css_color: str) -> float:  # WCAG relative luminance of "rgb(a)(…)"
        parts = [float(x) for x in css_color[css_color.index("(") + 1 : -1].split(",")]
        assert len(parts) == 3 or parts[3] == 1, css_color  # opaque
        linear = [
            c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
            for c in (v / 255 for v in parts[:3])
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    background = luminance(page.evaluate("getComputedStyle(document.body).backgroundColor"))
    tabs = page.locator(".dsr-page .nav-tabs .nav-link")
    expect(tabs).to_have_count(3)
    for tab in tabs.all():
        text = luminance(tab.evaluate("e => getComputedStyle(e).color"))
        contrast = (max(text, background) + 0.05) / (min(text, background) + 0.05)
        assert contrast >= 4.5, (tab.inner_text(), contrast)  # WCAG AA for text
    # The sidebar keeps its own colours.
    assert page.locator(".sidebar .nav-link").evaluate("e => getComputedStyle(e).color") == (
        "rgb(255, 255, 255)"
    )


def test_the_preview_shows_blocks_as_slack_does_and_runs_no_script_from_an_alert(
    page, live_server, client, screenshots, slack_rules
):
    from playwright.sync_api import expect

    slack_rules(GATEWAY_MODE="bot")
    user = make_user(*ALL_UI_PERMISSIONS, username="blocks", password="pw")
    client.force_login(user)
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    rule = RuleFactory(
        name="db-blocks",
        match_criteria={"team": "db"},
        slack_channel="#db",
        message_template=":red_circle: *{{ alertname }}* on `{{ instance }}`",
        resolved_message_template=":white_check_mark: {{ alertname }} resolved",
        resolve_action="update_and_reply",
        blocks_template="""[
          {"type": "header", "text": {"type": "plain_text", "text": ":fire: {{ alertname }}"}},
          {"type": "section", "text": {"type": "mrkdwn", "text": "*{{ summary }}*\n>{{ description }}"},
           "fields": [{"type": "mrkdwn", "text": "*Team*\n{{ labels.team }}"},
                      {"type": "mrkdwn", "text": "*Instance*\n`{{ instance }}`"}]},
          {"type": "divider"},
          {"type": "context", "elements": [{"type": "mrkdwn", "text": "<!here> · rule {{ rule.name }}"}]},
          {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Runbook"}, "url": "{{ annotations.runbook }}"}]}
        ]""",
    )
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    labels = {"alertname": "DiskFull", "team": "db", "instance": evil}
    annotations = {
        "summary": "Disk 95% full",
        "description": evil,
        "runbook": "https://wiki.example.com/disk",
    }
    query = urlencode({"labels": json.dumps(labels), "annotations": json.dumps(annotations)})
    page.goto(f"{live_server.url}/slack/rules/{rule.pk}/preview/?{query}")

    slack = page.locator(".dsr-slack")
    expect(slack.locator(".dsr-block-header")).to_have_text("🔥 DiskFull")
    expect(slack.locator(".dsr-section-text strong")).to_have_text("Disk 95% full")
    expect(slack.locator(".dsr-section-text .dsr-quote")).to_have_text(evil)
    expect(slack.locator(".dsr-field")).to_have_count(2)
    expect(slack.locator(".dsr-field").first).to_have_text("Team\ndb", use_inner_text=True)
    expect(slack.locator(".dsr-block-divider")).to_be_visible()
    expect(slack.locator(".dsr-block-context .dsr-mention")).to_have_text("@here")
    button = slack.get_by_role("link", name="Runbook")
    expect(button).to_have_attribute("href", "https://wiki.example.com/disk")
    expect(slack.locator(".dsr-fallback")).to_contain_text("DiskFull on")
    # Nothing from the alert became markup: no image, no script ran.
    expect(slack.locator("img")).to_have_count(0)
    expect(slack.locator("script")).to_have_count(0)
    shot(page, screenshots, "rule-preview-blocks")

    # A resolution: what the rule does in Slack, and the two calls' payloads.
    page.get_by_label("resolved", exact=True).check()
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.locator(".dsr-resolve-action")).to_contain_text(
        "update the firing message and reply in its thread"
    )
    page.get_by_text("Exact payload (JSON)").click()
    payload = page.locator("pre.dsr-payload")
    expect(payload).to_contain_text("// chat.postMessage")
    expect(payload).to_contain_text("// chat.update")
    expect(payload).to_contain_text('"thread_ts": "<the firing message\'s ts>"')
    shot(page, screenshots, "rule-preview-resolved")
    assert dialogs == []


def log_in(page, live_server, client, username="router"):
    """Log the browser in through a session cookie (the login form is tested above)."""
    client.force_login(make_user(*ALL_UI_PERMISSIONS, username=username, password="pw"))
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])


def add_condition(page, name, op, value):
    page.get_by_role("button", name="Add condition").click()
    row = page.locator(".dsr-criteria-row").last
    row.get_by_label("Label").fill(name)
    row.get_by_label("Operator").select_option(op)
    row.get_by_label("Value").fill(value)


def test_an_operator_routes_one_alert_to_several_rules(
    page, live_server, client, slack_endpoint, eager, screenshots
):
    from django.db import transaction
    from playwright.sync_api import expect

    from tests.factories import AlertInstanceFactory
    from tests.utils import fire

    log_in(page, live_server, client)
    RuleFactory(name="web", priority=20, match_criteria={"team": "web"}, slack_channel="#web",
                message_template="{{ alertname }} on the web team")  # fmt: skip
    RuleFactory(name="catch-all", priority=0, match_criteria=[], slack_channel="#alerts")
    RuleFactory(name="database", priority=25, match_criteria=['team="db"', 'env!~"dev|test"'],
                slack_channel="#db")  # fmt: skip

    # A rule of Alertmanager matchers, written as rows; the text box follows them.
    page.goto(f"{live_server.url}/slack/rules/new/")
    page.get_by_label("Name").fill("pager")
    page.get_by_label("Priority").fill("30")
    expect(page.locator("[data-dsr-summary]")).to_have_text(
        "No conditions: the rule matches every alert."
    )
    add_condition(page, "severity", "=~", "crit")
    add_condition(page, "team", "!=", "db")
    add_condition(page, "env", "=", "dev")
    page.locator(".dsr-criteria-row").last.get_by_role(
        "button", name="Remove this condition"
    ).click()
    expect(page.locator(".dsr-criteria-row")).to_have_count(2)
    box = page.locator("#id_match_criteria")
    expect(box).to_be_hidden()  # under "Edit as text"
    assert box.input_value() == 'severity=~"crit"\nteam!="db"'
    expect(page.locator("[data-dsr-summary]")).to_contain_text("Saved as Alertmanager matchers")
    page.get_by_label("Continue matching").check()
    page.get_by_label("Sample labels").fill('{"severity": "critical", "team": "web"}')
    page.get_by_label("Slack channel").fill("#pager")
    page.locator("#id_message_template").fill(":rotating_light: {{ alertname }}")
    page.get_by_text("Edit as text").click()
    shot(page, screenshots, "rule-form-matchers")
    page.get_by_role("button", name="Save", exact=True).click()

    # Saved, with a warning: the regex is anchored, so "crit" does not match "critical".
    warning = page.get_by_role("alert").filter(has_text="Saved, but this regex")
    expect(warning).to_contain_text("severity must match crit (is critical)")
    expect(warning).to_contain_text("it must match all of it")
    rule = SlackIntegrationRule.objects.get(name="pager")
    assert (rule.match_criteria, rule.continue_matching) == (
        ['severity=~"crit"', 'team!="db"'],
        True,
    )

    # Edit: the rows come back from the stored matchers; fix the regex in its row.
    page.get_by_role("link", name="pager", exact=True).click()
    rows = page.locator(".dsr-criteria-row")
    expect(rows).to_have_count(2)
    expect(rows.first.get_by_label("Value")).to_have_value("crit")
    rows.first.get_by_label("Value").fill("critical|page")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text="Rule “pager” saved.")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="Saved, but")).to_have_count(0)
    chips = page.locator('tr[data-rule="pager"] code.dsr-pair')
    expect(chips).to_have_text(['severity=~"critical|page"', 'team!="db"'])
    expect(page.locator('tr[data-rule="pager"] .dsr-continue')).to_have_text("continues")

    # Each operator tints its chip (docs/ui.md): != and !~ red, =~ blue, = plain.
    def chip_colour(text):
        chip = page.locator("code.dsr-pair").filter(has_text=re.compile(f"^{re.escape(text)}$"))
        return chip.first.evaluate("e => getComputedStyle(e).color")

    equal, not_equal = chip_colour('team="db"'), chip_colour('team!="db"')
    regex, not_regex = chip_colour('severity=~"critical|page"'), chip_colour('env!~"dev|test"')
    assert len({equal, not_equal, regex}) == 3, (equal, not_equal, regex)
    assert not_regex == not_equal
    shot(page, screenshots, "rule-list-matchers")

    # The match tester: both rules get the alert; each matcher's verdict for the others.
    page.get_by_role("link", name="Match tester", exact=True).click()
    page.get_by_label("Alert labels").fill(
        json.dumps({"alertname": "HighLatency", "severity": "page", "team": "web"})
    )
    page.get_by_role("button", name="Find the rule").click()
    expect(page.locator(".dsr-winner h2")).to_have_text("2 rules get this alert")
    expect(page.locator(".dsr-routes li")).to_have_text(
        [re.compile(r"^pager → #pager"), re.compile(r"^web → #web")]
    )
    expect(page.locator(".dsr-candidates li").nth(2)).to_contain_text(
        "Does not get it: web takes the alert and does not continue matching."
    )
    page.locator(".dsr-others summary").click()
    expect(page.locator(".dsr-others li")).to_contain_text(
        ['database: team must be db (is web) · ✓ env!~"dev|test"']
    )
    shot(page, screenshots, "match-tester-fan-out")

    # A real alert: one message per rule, each recorded; the log shows them together.
    with transaction.atomic():
        instance = AlertInstanceFactory(
            alert_group__labels={"alertname": "HighLatency", "severity": "page", "team": "web"}
        )
        fire(instance.alert_group, instance)
    assert sorted(r.json()["channel"] for r in slack_endpoint.requests) == ["#pager", "#web"]
    page.get_by_role("link", name="Delivery log", exact=True).click()
    expect(page.locator("tr.dsr-delivery")).to_have_count(2)
    expect(page.locator(".dsr-fan-out").first).to_contain_text("2 rules got it")
    shot(page, screenshots, "delivery-log-fan-out")
    page.locator(".dsr-fan-out a").first.click()
    expect(page.locator(".dsr-alert-filter")).to_contain_text("Showing the messages of alert")


def test_the_criteria_stay_editable_as_text_without_javascript(page, live_server, client):
    from playwright.sync_api import expect

    browser = page.context.browser
    context = browser.new_context(java_script_enabled=False, locale="en-GB")
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(live_server.url) else route.abort()
        ),
    )
    try:
        log_in(context.new_page(), live_server, client, username="nojs")
        plain = context.pages[0]
        plain.goto(f"{live_server.url}/slack/rules/new/")
        expect(plain.locator("[data-dsr-criteria-editor]")).to_be_hidden()
        plain.get_by_label("Name").fill("no-js")
        plain.get_by_label("Match criteria").fill('severity=~"critical|page"\nteam!="db"')
        plain.locator("#id_message_template").fill("{{ alertname }}")
        plain.get_by_role("button", name="Save", exact=True).click()
        expect(plain.get_by_role("alert").filter(has_text="Rule “no-js” created.")).to_be_visible()
    finally:
        context.close()
    rule = SlackIntegrationRule.objects.get(name="no-js")
    assert rule.match_criteria == ['severity=~"critical|page"', 'team!="db"']


def test_an_operator_watches_a_storm_being_absorbed(
    page, live_server, client, outbox, slack_rules, screenshots
):
    from django.db.models import F
    from playwright.sync_api import expect

    from django_slack_rules.models import DestinationPace
    from django_slack_rules.services import drain
    from django_slack_rules.services.pacing import WaitForSlot
    from tests.factories import AlertInstanceFactory
    from tests.utils import notify

    slack_rules(DIGEST_AFTER=5)
    log_in(page, live_server, client)
    rule = RuleFactory(
        name="storm", slack_channel="#storm", message_template="{{ instance }} is down"
    )
    armed = None
    for n in range(20):  # at once: three go, the rest wait for the channel's slots
        instance = AlertInstanceFactory(alert_group__instance=f"node-{n:02d}")
        try:
            notify(instance.alert_group.pk, rule.pk, "firing", str(instance.pk))
        except WaitForSlot as waiting:
            armed = armed or waiting.drain
    DestinationPace.objects.update(tat=F("tat") - 1)  # a second later: the drain's slot
    outcome = drain.run("#storm", armed.token)
    assert outcome.state == "digest"
    for n in range(20, 26):  # the storm goes on
        instance = AlertInstanceFactory(alert_group__instance=f"node-{n:02d}")
        with pytest.raises(WaitForSlot):
            notify(instance.alert_group.pk, rule.pk, "firing", str(instance.pk))

    page.goto(f"{live_server.url}/slack/deliveries/")
    busy = page.locator(".dsr-busy")
    expect(busy).to_contain_text("Busy channels")
    row = busy.locator("tr[data-destination='#storm']")
    expect(row.locator("td").nth(1)).to_have_text("6")  # waiting
    expect(row.locator("td").nth(5)).to_have_text("1")  # a digest in the last hour
    expect(page.locator(".dsr-waiting").first).to_contain_text("waiting for a slot since")
    shot(page, screenshots, "delivery-log-storm")

    # The digest's 17 alerts are folded under it, not 17 rows of "digested".
    expect(page.locator("tr[data-state='digested']")).to_have_count(0)
    folded = page.locator(".dsr-folded")
    expect(folded.locator(".dsr-folded-alert").first).to_be_hidden()
    folded.get_by_text("17 alerts folded").click()
    expect(folded.locator(".dsr-folded-alert")).to_have_count(17)
    expect(folded.locator(".dsr-folded-alert").first).to_be_visible()
    shot(page, screenshots, "delivery-log-digest")
    folded.get_by_role("link", name="Show all 17 as rows, with their states").click()
    expect(page.locator(".dsr-digest-filter")).to_contain_text("every alert it folded")
    expect(page.locator("tr.dsr-delivery")).to_have_count(18)  # the digest and its 17
    expect(page.locator("tr[data-state='digested']")).to_have_count(17)


# -- buttons in Slack -------------------------------------------------------------------


@pytest.fixture
def bot_with_buttons(slack_rules, outbox, eager, monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    slack_rules(GATEWAY_MODE="bot", SITE_URL="https://alerts.example.com", CHANNEL_RATE=None)
    locmem.users.clear()
    locmem.users[ALICE.id] = {
        "id": ALICE.id,
        "name": "alice",
        "profile": {"email": "alice@example.com"},
    }
    locmem.users[BOB.id] = {
        "id": BOB.id,
        "name": "bob",
        "profile": {"email": "bob@elsewhere.example"},
    }
    yield outbox
    locmem.users.clear()


def test_the_preview_shows_the_buttons_and_the_log_shows_each_click(
    page, live_server, client, screenshots, bot_with_buttons
):
    from playwright.sync_api import expect

    log_in(page, live_server, client, username="ops")
    rule = rule_with_buttons(
        message_template=":fire: *{{ alertname }}* on `{{ instance }}`: {{ summary }}"
    )

    page.goto(f"{live_server.url}/slack/rules/{rule.pk}/preview/")
    slack = page.locator(".dsr-slack")
    expect(slack.locator(".dsr-section-text strong")).to_have_text("HighCPU")
    buttons = slack.locator(".dsr-block-actions")
    expect(buttons.get_by_text("Acknowledge", exact=True)).to_be_visible()
    expect(buttons.locator(".dsr-select")).to_have_text("Silence for… ▾")
    expect(buttons.get_by_role("link", name="Open in SentryHub")).to_have_attribute(
        "href", "https://alerts.example.com/alerts/preview/"
    )
    shot(page, screenshots, "rule-preview-buttons")

    # Alice acknowledges; Bob, whom SentryHub does not know, tries to silence it.
    host_user("alice")
    alert, instance = firing_alert(instance="web-7:9100")
    delivery = send_with_buttons(rule, alert, instance)
    actions_url = f"{live_server.url}/slack/actions/"
    for user, action, option in ((ALICE, "acknowledge", None), (BOB, "silence", "3600")):
        click = Click.on_message(
            "C0WEB0000",  # Slack's id of #web (the locmem backend answers with no channel id)
            delivery.message_ts,
            delivery.text,
            delivery.blocks,
            action,
            user=user,
            option=option,
        )
        assert post(actions_url, click.body(), click.headers(SIGNING_SECRET))[0] == 200
        wait_until(
            lambda action=action: SlackAction.objects.filter(
                action=action, notice_state="sent"
            ).exists(),
            what=f"the {action} click settled",
        )

    page.goto(f"{live_server.url}/slack/deliveries/")
    rows = page.locator("tr.dsr-action")
    expect(rows).to_have_count(2)
    done = page.locator('tr.dsr-action[data-state="done"]')
    expect(done).to_contain_text("Acknowledge")
    expect(done).to_contain_text("by @alice (as alice)")
    refused = page.locator('tr.dsr-action[data-state="refused"]')
    expect(refused).to_contain_text("Silence")
    expect(refused).to_contain_text("for 1 hour")
    expect(refused).to_contain_text(
        "No SentryHub user has your email address (bob@elsewhere.example)"
    )
    shot(page, screenshots, "delivery-log-actions")
