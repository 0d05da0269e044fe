"""The rule pages: permissions, forms, round trips, preview, test send, match tester, log."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.contrib.messages import get_messages
from django.core import checks
from django.test import Client
from django.urls import reverse

from django_slack_rules.adapters import AlertGroupAdapter
from django_slack_rules.forms import SlackIntegrationRuleForm
from django_slack_rules.models import DeliveryState, SlackDelivery, SlackIntegrationRule
from django_slack_rules.rendering.samples import sample_context
from django_slack_rules.rendering.templates import TRUNCATION_MARKER
from tests.factories import AlertInstanceFactory, RuleFactory
from tests.ui_users import ALL_UI_PERMISSIONS, make_user
from tests.utils import url

pytestmark = pytest.mark.django_db


def login(client, *codenames):
    client.force_login(make_user(*codenames))
    return client


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def header_link(response, label):
    """The href of the sortable column header ``label`` on a rendered list page."""
    match = re.search(
        r'<a href="([^"]*)"[^>]*>\s*' + re.escape(label) + r"\b", response.content.decode()
    )
    assert match, f"no header link {label!r}"
    return html.unescape(match[1])


def rule_data(**changes):
    data = {
        "name": "database",
        "description": "",
        "is_active": "on",
        "priority": "10",
        "match_criteria": '{"team": "db"}',
        "slack_channel": "#db-alerts",
        "message_template": ":fire: {{ alertname }} on {{ instance }}",
        "resolved_message_template": "",
    }
    data.update(changes)
    return data


# -- permissions --------------------------------------------------------------

PAGES = [
    # (url name, needs a rule pk, method, permission it needs)
    ("rule-list", False, "get", "view_slackintegrationrule"),
    ("rule-create", False, "get", "add_slackintegrationrule"),
    ("rule-update", True, "get", "change_slackintegrationrule"),
    ("rule-delete", True, "get", "delete_slackintegrationrule"),
    ("rule-delete", True, "post", "delete_slackintegrationrule"),
    ("rule-preview", True, "get", "view_slackintegrationrule"),
    ("rule-match", False, "get", "view_slackintegrationrule"),
    ("delivery-list", False, "get", "view_slackdelivery"),
    ("delivery-resend", False, "post", "change_slackdelivery"),
]


@pytest.mark.parametrize(("name", "with_pk", "method", "permission"), PAGES)
def test_anonymous_users_are_sent_to_the_login_page(client, name, with_pk, method, permission):
    rule = RuleFactory()
    target = url(name, rule.pk) if with_pk else url(name)
    response = getattr(client, method)(target)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    assert SlackIntegrationRule.objects.filter(pk=rule.pk).exists()


@pytest.mark.parametrize(("name", "with_pk", "method", "permission"), PAGES)
def test_users_without_the_permission_get_403(client, name, with_pk, method, permission):
    rule = RuleFactory()
    others = [p for p in ALL_UI_PERMISSIONS if p != permission]
    login(client, *others)
    target = url(name, rule.pk) if with_pk else url(name)
    assert getattr(client, method)(target).status_code == 403
    assert SlackIntegrationRule.objects.filter(pk=rule.pk).exists()


@pytest.mark.parametrize(("name", "with_pk", "method", "permission"), PAGES)
def test_the_permission_alone_opens_the_page(client, name, with_pk, method, permission):
    rule = RuleFactory()
    login(client, permission)
    target = url(name, rule.pk) if with_pk else url(name)
    response = getattr(client, method)(target)
    assert response.status_code == (302 if method == "post" else 200)


def test_test_send_needs_the_change_permission(client, outbox):
    rule = RuleFactory()
    login(client, "view_slackintegrationrule")
    page = client.get(url("rule-preview", rule.pk))
    assert 'name="send"' not in page.content.decode()
    response = client.post(url("rule-preview", rule.pk), sample_post(send=True))
    assert response.status_code == 403
    assert outbox == []


def test_actions_the_user_may_not_take_are_not_offered(client):
    RuleFactory(name="db")
    login(client, "view_slackintegrationrule")
    content = client.get(url("rule-list")).content.decode()
    assert "db" in content
    for action in ("New rule", ">Edit<", ">Delete<", "Delivery log"):
        assert action not in content


def test_every_form_carries_a_csrf_token_and_posts_without_it_are_refused():
    rule = RuleFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(*ALL_UI_PERMISSIONS))
    for name, args in [
        ("rule-create", ()),
        ("rule-update", (rule.pk,)),
        ("rule-delete", (rule.pk,)),
        ("rule-preview", (rule.pk,)),
    ]:
        assert "csrfmiddlewaretoken" in client.get(url(name, *args)).content.decode()
    assert client.post(url("rule-delete", rule.pk)).status_code == 403
    assert client.post(url("rule-create"), rule_data()).status_code == 403
    assert SlackIntegrationRule.objects.filter(pk=rule.pk).exists()


# -- list -------------------------------------------------------------------------


def test_the_list_shows_rules_in_priority_order_with_status_and_last_delivery(admin_client):
    low = RuleFactory(name="low", priority=1, match_criteria={"team": "web"})
    RuleFactory(name="high", priority=50, is_active=False)
    RuleFactory(name="also-high", priority=50)
    SlackDelivery.objects.create(
        rule=low,
        rule_name="low",
        alert_id="1",
        alert_status="firing",
        idempotency_key="k1",
        state=DeliveryState.FAILED,
    )
    response = admin_client.get(url("rule-list"))
    names = [rule.name for rule in response.context["object_list"]]
    assert names == ["also-high", "high", "low"]
    content = response.content.decode()
    assert content.index("also-high") < content.index(">high<") < content.index(">low<")
    assert "Inactive" in content
    assert '<code class="dsr-pair dsr-op-eq" title="equals">team=&quot;web&quot;</code>' in content
    listed = {rule.name: rule for rule in response.context["object_list"]}
    assert listed["low"].last_delivery_state == "failed"
    assert listed["high"].last_delivery_state is None


def test_the_list_can_be_ordered_and_paginated(admin_client):
    for i in range(30):
        RuleFactory(name=f"rule-{i:02d}", priority=i)
    first = admin_client.get(url("rule-list"))
    assert first.context["object_list"][0].name == "rule-29"
    assert first.context["is_paginated"]
    second = admin_client.get(url("rule-list") + "?page=2")
    assert [r.name for r in second.context["object_list"]][-1] == "rule-00"
    by_name = admin_client.get(url("rule-list") + "?ordering=name")
    assert by_name.context["object_list"][0].name == "rule-00"
    reverse_name = admin_client.get(url("rule-list") + "?ordering=-name")
    assert reverse_name.context["object_list"][0].name == "rule-29"
    bogus = admin_client.get(url("rule-list") + "?ordering=secret_field")
    assert bogus.context["object_list"][0].name == "rule-29"


def test_sortable_headers_tabs_and_row_buttons_are_accessible(admin_client):
    rule = RuleFactory(name="web-critical")
    content = admin_client.get(url("rule-list")).content.decode()
    # The default order is priority, highest first.
    assert '<th scope="col" aria-sort="descending"><a href="?ordering=-priority">Priority' in (
        content
    )
    assert '<span aria-hidden="true">▾</span>' in content
    assert '<th scope="col"><a href="?ordering=name">Name</a></th>' in content
    by_name = admin_client.get(url("rule-list"), {"ordering": "name"}).content.decode()
    assert '<th scope="col" aria-sort="ascending"><a href="?ordering=-name">Name' in by_name
    assert by_name.count("aria-sort=") == 1
    assert '<a class="nav-link active" aria-current="page"' in content
    assert content.count('aria-current="page"') == 1
    for verb in ("Preview", "Edit", "Delete"):
        assert f'aria-label="{verb} rule web-critical">{verb}</a>' in content
    delivery = make_delivery(rule, "f", "failed")
    log = admin_client.get(url("delivery-list")).content.decode()
    assert '<th scope="col" aria-sort="descending"><a href="?ordering=created">Time' in log
    assert f'aria-label="Resend delivery {delivery.pk}">Resend</button>' in log
    assert '<a class="nav-link active" aria-current="page" href="/slack/deliveries/"' in log
    oldest = admin_client.get(url("delivery-list"), {"ordering": "created"}).content.decode()
    assert '<th scope="col" aria-sort="ascending"><a href="?ordering=-created">Time' in oldest


def test_page_titles_name_the_page_once(admin_client):
    rule = RuleFactory(name="db")

    def title(target):
        return re.search(r"<title>(.*?)</title>", admin_client.get(target).content.decode())[1]

    assert title(url("rule-list")) == "Slack rules"
    assert title(url("delivery-list")) == "Delivery log · Slack rules"
    assert title(url("rule-preview", rule.pk)) == "Preview: db · Slack rules"


def test_an_empty_list_says_what_to_do_next(client):
    login(client, "view_slackintegrationrule", "add_slackintegrationrule")
    content = client.get(url("rule-list")).content.decode()
    assert "No Slack rules yet" in content
    assert "Create the first rule" in content

    viewer = Client()
    viewer.force_login(make_user("view_slackintegrationrule", username="viewer"))
    content = viewer.get(url("rule-list")).content.decode()
    assert "Create the first rule" not in content
    assert "Ask an administrator" in content


# -- create, update, delete ------------------------------------------------------


def test_create_round_trip(admin_client):
    response = admin_client.post(url("rule-create"), rule_data(), follow=True)
    assert response.redirect_chain[-1][0] == url("rule-list")
    rule = SlackIntegrationRule.objects.get(name="database")
    assert rule.match_criteria == {"team": "db"}
    assert rule.priority == 10
    assert rule.slack_channel == "#db-alerts"
    assert "Rule “database” created." in response.content.decode()


def test_save_and_preview_goes_to_the_preview(admin_client):
    response = admin_client.post(url("rule-create"), {**rule_data(), "_preview": ""})
    rule = SlackIntegrationRule.objects.get(name="database")
    assert response["Location"] == url("rule-preview", rule.pk)


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ('{"team": db}', "not valid JSON: Expecting value at line 1, column 10"),
        ("{'team': 'db'}", "take double quotes"),
        ('{\n  "team": "db"\n  "severity": "critical"\n}', "at line 3, column 3"),
        ('["team", "db"]', 'Matcher 1 ("team"): expected one of =, !=, =~, !~ after the label'),
        ('["team=db", 5]', "Matcher 2 must be a string such as"),
        ('team="db"\n\nseverity critical', 'Line 3 ("severity critical"): expected one of'),
        ('host=~"db(?!-test)"', 'the regex "db(?!-test)" is not valid RE2'),
        ('{team="db", env}', "not valid JSON"),
        ('"db"', "not a string"),
        ('{"team": 5}', "the value must be a string, got a number"),
        ("", "Use {} to match every alert."),
    ],
)
def test_match_criteria_errors_say_what_is_wrong(admin_client, criteria, expected):
    response = admin_client.post(url("rule-create"), rule_data(match_criteria=criteria))
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["match_criteria"])
    assert expected in errors
    assert "nothing was saved" in response.content.decode()
    assert not SlackIntegrationRule.objects.exists()


def test_invalid_json_is_shown_back_as_typed(admin_client):
    response = admin_client.post(url("rule-create"), rule_data(match_criteria='{"team": db}'))
    assert "{&quot;team&quot;: db}" in response.content.decode()


def test_templates_are_checked_by_compiling_them(admin_client):
    response = admin_client.post(
        url("rule-create"),
        rule_data(message_template="{% if %}", resolved_message_template="{{ status|nosuch }}"),
    )
    errors = response.context["form"].errors
    assert "The template does not compile" in errors["message_template"][0]
    assert "nosuch" in errors["resolved_message_template"][0]
    assert not SlackIntegrationRule.objects.exists()


def test_the_form_lists_the_template_context_keys(admin_client):
    content = admin_client.get(url("rule-create")).content.decode()
    for key in ("labels", "annotations", "alertname", "summary", "alert_group", "latest_instance"):
        assert f"<code>{key}</code>" in content


def test_other_field_errors(admin_client):
    RuleFactory(name="database")
    response = admin_client.post(url("rule-create"), rule_data(slack_channel="general channel"))
    errors = response.context["form"].errors
    assert "already exists" in errors["name"][0]
    assert "is not a Slack channel" in errors["slack_channel"][0]


def test_update_round_trip(admin_client):
    rule = RuleFactory(name="database", priority=1, match_criteria={"team": "db"})
    page = admin_client.get(url("rule-update", rule.pk)).content.decode()
    assert "&quot;team&quot;: &quot;db&quot;" in page  # criteria shown as JSON to edit
    response = admin_client.post(
        url("rule-update", rule.pk),
        rule_data(priority="99", match_criteria='{"team": "db", "env": "prod"}'),
        follow=True,
    )
    rule.refresh_from_db()
    assert rule.priority == 99
    assert rule.match_criteria == {"team": "db", "env": "prod"}
    assert "Rule “database” saved." in response.content.decode()


def test_delete_asks_then_deletes_and_keeps_the_delivery_records(admin_client):
    rule = RuleFactory(name="database")
    SlackDelivery.objects.create(
        rule=rule, rule_name=rule.name, alert_id="1", alert_status="firing", idempotency_key="k"
    )
    confirm = admin_client.get(url("rule-delete", rule.pk)).content.decode()
    assert "Delete the rule “database”?" in confirm
    assert "1 delivery record stays in the delivery log" in confirm
    assert SlackIntegrationRule.objects.filter(pk=rule.pk).exists()
    response = admin_client.post(url("rule-delete", rule.pk), follow=True)
    assert not SlackIntegrationRule.objects.filter(pk=rule.pk).exists()
    assert "Rule “database” deleted." in response.content.decode()
    assert SlackDelivery.objects.get().rule is None


def test_missing_rules_are_404(admin_client):
    for name in ("rule-update", "rule-delete", "rule-preview"):
        assert admin_client.get(url(name, 999)).status_code == 404


# -- the base template contract -----------------------------------------------------


@pytest.mark.parametrize(
    ("base", "marker"),
    [
        ("host_main_content/base.html", "SENTRYHUB-LAYOUT"),
        ("host_content/base.html", "OTHER-HOST-LAYOUT"),
        ("django_slack_rules/base.html", "bootstrap.min.css"),
    ],
)
def test_pages_render_inside_a_host_layout_with_either_block(
    admin_client, slack_rules, base, marker
):
    slack_rules(BASE_TEMPLATE=base)
    rule = RuleFactory(name="database")
    for target in (url("rule-list"), url("rule-update", rule.pk), url("rule-match")):
        content = admin_client.get(target).content.decode()
        assert marker in content
        assert content.count('<div class="dsr-page">') == 1


def test_the_default_base_is_complete_and_needs_no_network(admin_client):
    content = admin_client.get(url("rule-list")).content.decode()
    assert "/static/django_slack_rules/vendor/bootstrap/bootstrap.min.css" in content
    assert "https://" not in content
    assert "http://" not in content


def test_a_missing_crispy_setup_is_reported_by_a_check(settings):
    assert not [m for m in checks.run_checks() if m.id == "django_slack_rules.W004"]
    del settings.CRISPY_TEMPLATE_PACK
    settings.CRISPY_ALLOWED_TEMPLATE_PACKS = ("bootstrap4",)
    (warning,) = [m for m in checks.run_checks() if m.id == "django_slack_rules.W004"]
    assert "CRISPY_TEMPLATE_PACK is not set" in warning.msg
    assert "'bootstrap5'" in warning.msg


# -- preview and test send ------------------------------------------------------------


def sample_post(labels=None, annotations=None, status="firing", send=False):
    data = {
        "labels": json.dumps(labels if labels is not None else {"alertname": "HighCPU"}),
        "annotations": json.dumps(annotations or {"summary": "CPU high"}),
        "status": status,
    }
    data["send" if send else "preview"] = ""
    return data


def test_the_preview_opens_with_a_sample_alert_the_rule_matches(admin_client):
    rule = RuleFactory(
        match_criteria={"team": "db"},
        slack_channel="",
        message_template="{{ alertname }} for {{ labels.team }}: {{ summary }}",
    )
    response = admin_client.get(url("rule-preview", rule.pk))
    preview = response.context["preview"]
    assert preview.text == "HighCPU for db: CPU above 90% for 5 minutes"
    assert preview.channel == "#alerts"  # no channel on the rule or the labels: the default
    assert not preview.mismatches
    assert "HighCPU for db: CPU above 90% for 5 minutes" in response.content.decode()


def test_the_preview_shows_the_escaped_text_slack_would_get(admin_client):
    rule = RuleFactory(message_template="<!here> {{ labels.job }} & {{ summary }}")
    response = admin_client.post(
        url("rule-preview", rule.pk),
        sample_post(labels={"job": "<!channel> a&b"}, annotations={"summary": "<http://x|y>"}),
    )
    text = response.context["preview"].text
    assert text == "<!here> &lt;!channel&gt; a&amp;b & &lt;http://x|y&gt;"
    assert "&lt;!here&gt; &amp;lt;!channel&amp;gt;" in response.content.decode()


def test_the_preview_context_has_the_keys_of_a_real_alert(db):
    rule = RuleFactory()
    instance = AlertInstanceFactory()
    real = AlertGroupAdapter().get_context(
        instance.alert_group, rule=rule, status="firing", instance=instance
    )
    sample = sample_context(rule, {"alertname": "x"}, {"summary": "y"}, "firing")
    assert set(sample) == set(real)
    assert set(sample["latest_instance"]) == set(real["latest_instance"])
    assert set(sample["rule"]) == set(real["rule"])


def test_the_preview_truncates_like_the_sender(admin_client, slack_rules):
    slack_rules(MESSAGE_MAX_LENGTH=60)
    rule = RuleFactory(message_template="{{ summary }}")
    response = admin_client.post(
        url("rule-preview", rule.pk), sample_post(annotations={"summary": "x" * 500})
    )
    preview = response.context["preview"]
    assert len(preview.text) == 60
    assert preview.text.endswith(TRUNCATION_MARKER)
    assert "truncated" in response.content.decode()


def test_a_template_failing_at_render_time_previews_the_fallback(admin_client):
    rule = RuleFactory(name="db", message_template="{% widthratio 1 0 labels %}")
    response = admin_client.post(url("rule-preview", rule.pk), sample_post())
    preview = response.context["preview"]
    assert preview.render_error
    assert preview.text.startswith("[FIRING] HighCPU")
    assert "failed to render" in response.content.decode()


def test_a_resolved_preview_without_a_resolved_template_says_nothing_is_sent(admin_client):
    rule = RuleFactory(resolved_message_template="")
    response = admin_client.post(url("rule-preview", rule.pk), sample_post(status="resolved"))
    assert "Nothing would be sent: the rule has no resolved template." in (
        response.content.decode()
    )


def test_the_preview_warns_when_the_labels_would_not_reach_the_rule(admin_client):
    rule = RuleFactory(name="db", match_criteria={"team": "db"}, priority=1)
    RuleFactory(name="catch-all", match_criteria={}, priority=5)
    content = admin_client.post(
        url("rule-preview", rule.pk), sample_post(labels={"team": "web"})
    ).content.decode()
    assert "must be <code>db</code> (is <code>web</code>)" in content
    content = admin_client.post(
        url("rule-preview", rule.pk), sample_post(labels={"team": "db"})
    ).content.decode()
    assert "rule <strong>catch-all</strong> (priority 5) wins" in content


def test_the_preview_warns_that_slack_rejects_an_empty_message(admin_client):
    rule = RuleFactory(message_template="{% if labels.team %}{{ labels.team }}{% endif %}  ")
    response = admin_client.post(url("rule-preview", rule.pk), sample_post(labels={"a": "b"}))
    assert response.context["preview"].empty
    assert "Slack rejects an empty message (<code>no_text</code>)" in response.content.decode()
    response = admin_client.post(url("rule-preview", rule.pk), sample_post(labels={"team": "db"}))
    assert not response.context["preview"].empty
    assert "no_text" not in response.content.decode()


def test_the_preview_warns_when_a_variable_it_prints_is_empty_for_the_sample(admin_client):
    """The demo's catch-all prints `{{ instance }}`: an alert without an instance label
    would reach Slack as "on ``"."""
    rule = RuleFactory(message_template="*{{ alertname }}* on `{{ instance }}`")
    response = admin_client.post(
        url("rule-preview", rule.pk), sample_post(labels={"alertname": "MyFirstAlert"})
    )
    assert response.context["preview"].text == "*MyFirstAlert* on ``"
    assert response.context["preview"].empty_variables == ["instance"]
    content = response.content.decode()
    assert "This variable is empty for this sample" in content
    assert "<code>{{ instance }}</code>." in content
    response = admin_client.post(
        url("rule-preview", rule.pk), sample_post(labels={"alertname": "A", "instance": "web-1"})
    )
    assert "dsr-empty-variables" not in response.content.decode()


def test_the_preview_names_variables_that_render_as_nothing_with_close_keys(admin_client):
    rule = RuleFactory(
        message_template="{{ alert_name }} {{ labels.sevrity }} {{ alertname }} "
        '{{ labels.runbook|default:"no runbook" }} {% if labels.env %}{{ labels.env }}{% endif %}'
    )
    response = admin_client.post(
        url("rule-preview", rule.pk), sample_post(labels={"alertname": "X", "severity": "page"})
    )
    preview = response.context["preview"]
    assert preview.text == "X no runbook"  # what is sent is unchanged by the check
    assert preview.undefined == [
        ("alert_name", ["alertname"]),
        ("labels.sevrity", ["labels.severity"]),
    ]
    content = response.content.decode()
    assert "2 variables of the template are not in this sample's context" in content
    assert "<code>{{ alert_name }}</code>: did you mean <code>alertname</code>?" in content
    assert "<code>{{ labels.sevrity }}</code>: did you mean <code>labels.severity</code>?" in (
        content
    )
    clean = RuleFactory(message_template="{{ alertname }}")
    response = admin_client.post(url("rule-preview", clean.pk), sample_post())
    assert response.context["preview"].undefined == []
    assert "dsr-undefined" not in response.content.decode()


def test_template_syntax_sent_as_text_is_a_warning_on_the_form_and_the_preview(admin_client):
    data = rule_data(message_template="{{ alertname } on host\n{{ instance }}")
    response = admin_client.post(url("rule-create"), {**data, "_preview": ""}, follow=True)
    rule = SlackIntegrationRule.objects.get(name="database")  # saved: not an error
    assert rule.message_template == "{{ alertname } on host\n{{ instance }}"
    content = response.content.decode()
    assert (
        "Saved, but Message template: Django does not read this as a variable or a tag, so it "
        "is sent as typed: <code>{{ alertname } on host</code>"
    ) in content
    assert "Rule “database” created." not in content  # a warning, not a success
    assert response.context["preview"].stray == ["{{ alertname } on host"]
    assert "Part of the template is sent as typed" in content
    # Braces that come from the alert are not the template's: no warning.
    rule.message_template = "{{ summary }}"
    rule.save()
    response = admin_client.post(
        url("rule-preview", rule.pk), sample_post(annotations={"summary": "{{ x }"})
    )
    assert response.context["preview"].text == "{{ x }"
    assert response.context["preview"].stray == []
    response = admin_client.post(url("rule-update", rule.pk), rule_data(), follow=True)
    assert "sent as typed" not in response.content.decode()


def test_preview_sample_errors_are_shown(admin_client):
    rule = RuleFactory()
    response = admin_client.post(
        url("rule-preview", rule.pk), {"labels": "{nope", "annotations": "[]", "status": "firing"}
    )
    form = response.context["form"]
    assert "not valid JSON" in form.errors["labels"][0]
    assert "must be a JSON object" in form.errors["annotations"][0]
    assert "preview" not in response.context


def test_preview_takes_labels_from_the_match_tester_link(admin_client):
    rule = RuleFactory(message_template="{{ labels.team }}")
    response = admin_client.get(url("rule-preview", rule.pk) + '?labels={"team":"payments"}')
    assert response.context["preview"].text == "payments"


def test_preview_sends_nothing(admin_client, outbox):
    rule = RuleFactory()
    admin_client.post(url("rule-preview", rule.pk), sample_post())
    assert outbox == []
    assert not SlackDelivery.objects.exists()


def test_test_send_posts_the_preview_to_the_fake_slack(admin_client, slack_endpoint):
    rule = RuleFactory(name="db", slack_channel="#db", message_template="{{ alertname }} <!here>")
    response = admin_client.post(url("rule-preview", rule.pk), sample_post(send=True))
    (request,) = slack_endpoint.requests
    assert request.json() == {"channel": "#db", "text": "HighCPU <!here>"}
    assert response.status_code == 302
    page = admin_client.get(response["Location"])
    content = page.content.decode()
    assert "Sent to <code>#db</code>" in content
    log = url("delivery-list") + f"?rule={rule.pk}"
    assert f'<a href="{log}">delivery log</a> as a test' in content
    delivery = SlackDelivery.objects.get()
    assert (delivery.rule, delivery.state, delivery.alert_status) == (rule, "sent", "test")
    assert delivery.text == "HighCPU <!here>"
    # The log link finds it.
    assert list(admin_client.get(log).context["object_list"]) == [delivery]


def test_a_test_send_redirects_to_the_same_sample_so_a_reload_sends_nothing(
    admin_client, slack_endpoint
):
    rule = RuleFactory(slack_channel="#db", resolved_message_template="{{ labels.team }} ok")
    labels, annotations = {"team": "pay€", "alertname": "Disk"}, {"summary": "full & more"}
    response = admin_client.post(
        url("rule-preview", rule.pk),
        sample_post(labels=labels, annotations=annotations, status="resolved", send=True),
    )
    assert response.status_code == 302
    assert response["Location"].startswith(url("rule-preview", rule.pk) + "?")
    page = admin_client.get(response["Location"])
    form = page.context["form"]
    assert form.cleaned_data == {"labels": labels, "annotations": annotations, "status": "resolved"}
    assert page.context["preview"].text == "pay€ ok"
    assert "Sent to <code>#db</code>" in page.content.decode()
    reload = admin_client.get(response["Location"])
    assert reload.context["preview"].text == "pay€ ok"
    assert "Sent to" not in reload.content.decode()  # the message is shown once
    assert len(slack_endpoint.requests) == 1
    assert SlackDelivery.objects.count() == 1


def test_a_test_send_with_an_invalid_sample_sends_nothing_and_shows_the_errors(
    admin_client, slack_endpoint
):
    rule = RuleFactory()
    response = admin_client.post(
        url("rule-preview", rule.pk),
        {"labels": "{nope", "annotations": "{}", "status": "firing", "send": ""},
    )
    assert response.status_code == 200
    assert "not valid JSON" in response.context["form"].errors["labels"][0]
    assert slack_endpoint.requests == []


def test_test_send_shows_slacks_error_and_a_hint(admin_client, slack_endpoint):
    slack_endpoint.respond_error(404, "channel_not_found")
    rule = RuleFactory(slack_channel="#nowhere")
    response = admin_client.post(url("rule-preview", rule.pk), sample_post(send=True), follow=True)
    content = response.content.decode()
    assert 'class="alert alert-danger dsr-outcome"' in content
    assert (
        'Not sent to <code>#nowhere</code>: <strong class="dsr-hop">Slack refused</strong> '
        "<code>channel_not_found</code> "
    ) in content
    assert "(HTTP 404)" in content
    assert "<strong>What to do:</strong>" in content
    assert "invite the app" in content
    assert f'<a href="{url("delivery-list")}?rule={rule.pk}">delivery log</a>' in content
    delivery = SlackDelivery.objects.get()
    assert (delivery.state, delivery.slack_error) == ("failed", "channel_not_found")


def test_test_send_to_an_unreachable_endpoint_never_shows_its_credentials(admin_client, settings):
    settings.SLACK_INTERNAL_ENDPOINT = "http://user:s3cr3t@127.0.0.1:9/slack-proxy/T0/B0/XYZ"
    rule = RuleFactory()
    response = admin_client.post(url("rule-preview", rule.pk), sample_post(send=True), follow=True)
    content = response.content.decode()
    assert response.status_code == 200
    assert '<strong class="dsr-hop">gateway unreachable</strong> <code>connection_error' in content
    assert "Slack refused" not in content
    assert "127.0.0.1:9" in content
    for secret in ("s3cr3t", "user:", "XYZ", "/slack-proxy/"):
        assert secret not in content
        assert secret not in response.redirect_chain[0][0]


def test_test_send_without_an_endpoint_explains_the_setting(admin_client, settings):
    settings.SLACK_INTERNAL_ENDPOINT = ""
    rule = RuleFactory()
    response = admin_client.post(url("rule-preview", rule.pk), sample_post(send=True), follow=True)
    assert "SLACK_INTERNAL_ENDPOINT is not set" in response.content.decode()
    assert not SlackDelivery.objects.exists()


def test_test_send_of_a_status_without_a_template_sends_nothing(admin_client, slack_endpoint):
    rule = RuleFactory(resolved_message_template="")
    response = admin_client.post(
        url("rule-preview", rule.pk), sample_post(status="resolved", send=True), follow=True
    )
    assert response.redirect_chain[0][0].startswith(url("rule-preview", rule.pk) + "?")
    assert "Nothing sent: the rule has no template for resolved alerts." in (
        response.content.decode()
    )
    assert slack_endpoint.requests == []


def test_test_send_respects_a_rate_limited_channel(admin_client, slack_endpoint):
    slack_endpoint.respond_rate_limited(retry_after=120)
    rule = RuleFactory(slack_channel="#busy")
    target = url("rule-preview", rule.pk)
    first = admin_client.post(target, sample_post(send=True), follow=True)
    assert "rate_limited" in first.content.decode()
    second = admin_client.post(target, sample_post(send=True), follow=True)
    assert "rate-limited by Slack" in second.content.decode()
    assert len(slack_endpoint.requests) == 1


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("rule-preview", sample_post()),
        ("rule-preview", sample_post(send=True)),
        ("rule-update", rule_data()),
        ("rule-delete", {}),
    ],
)
def test_a_post_for_a_rule_deleted_meanwhile_goes_back_to_the_list(
    admin_client, slack_endpoint, name, data
):
    rule = RuleFactory()
    pk = rule.pk
    rule.delete()
    response = admin_client.post(url(name, pk), data, follow=True)
    assert response.redirect_chain == [(url("rule-list"), 302)]
    assert f"Rule #{pk} was deleted meanwhile; nothing was saved or sent." in (
        response.content.decode()
    )
    assert not SlackIntegrationRule.objects.exists()
    assert slack_endpoint.requests == []
    assert not SlackDelivery.objects.exists()


def test_a_rule_deleted_while_its_edit_is_saved_is_not_created_again(admin_client, monkeypatch):
    rule = RuleFactory(name="web", match_criteria={"team": "web"})
    clean = SlackIntegrationRuleForm.clean

    def clean_then_delete(form):
        # Another tab deletes the rule after the page checked that it was there.
        SlackIntegrationRule.objects.filter(pk=rule.pk).delete()
        return clean(form)

    monkeypatch.setattr(SlackIntegrationRuleForm, "clean", clean_then_delete)
    response = admin_client.post(
        url("rule-update", rule.pk), rule_data(name="web-renamed"), follow=True
    )
    assert response.redirect_chain == [(url("rule-list"), 302)]
    assert f"Rule #{rule.pk} was deleted meanwhile" in response.content.decode()
    assert not SlackIntegrationRule.objects.exists()


# -- match tester ---------------------------------------------------------------------


def test_the_match_testers_get_form_puts_no_csrf_token_in_its_url(admin_client):
    """The match tester is a GET form (a URL to share): a CSRF token in it would land in
    the browser's history and the access logs."""
    content = admin_client.get(url("rule-match")).content.decode()
    form = content[content.index('<form method="get" novalidate class="dsr-match-form">') :]
    form = form[: form.index("</form>")]
    assert 'name="labels"' in form
    assert "csrfmiddlewaretoken" not in form


def test_the_match_tester_names_the_winner_and_the_candidates_in_order(admin_client):
    RuleFactory(name="catch-all", priority=0, match_criteria={})
    RuleFactory(name="b-db", priority=10, match_criteria={"team": "db"})
    RuleFactory(name="a-db-prod", priority=10, match_criteria={"team": "db", "env": "prod"})
    RuleFactory(name="web", priority=50, match_criteria={"team": "web"})
    RuleFactory(name="off", priority=99, match_criteria={"team": "db"}, is_active=False)
    labels = json.dumps({"team": "db", "env": "prod"})
    response = admin_client.get(url("rule-match"), {"labels": labels})
    context = response.context
    assert context["winner"].name == "a-db-prod"
    assert [r.name for r in context["candidates"]] == ["a-db-prod", "b-db", "catch-all"]
    content = response.content.decode()
    assert "Rule <strong>a-db-prod</strong> wins" in content
    assert "same priority, its name sorts later" in content
    assert "lower priority" in content
    assert "<code>team</code> must be <code>web</code> (is <code>db</code>)" in content
    assert "off</span>:\n            inactive (it would match otherwise)" in content


def test_the_match_tester_lists_a_limited_number_of_rules_that_do_not_match(
    admin_client, django_assert_max_num_queries
):
    RuleFactory.create_batch(60, match_criteria={"team": "web"})
    for i in range(3):
        RuleFactory(name=f"db-{i}", match_criteria={"team": "db"})
    labels = json.dumps({"team": "db"})
    with django_assert_max_num_queries(12):
        response = admin_client.get(url("rule-match"), {"labels": labels})
    context = response.context
    assert [r.name for r in context["candidates"]] == ["db-0", "db-1", "db-2"]
    assert len(context["others"]) == 50
    assert context["others_total"] == 60
    content = response.content.decode()
    assert "Rules that do not match (60)" in content
    assert f'and 10 more, not listed here: see <a href="{url("rule-list")}">' in content
    assert content.count("must be <code>web</code>") == 50


def test_the_match_tester_says_when_nothing_matches(admin_client):
    RuleFactory(name="db", match_criteria={"team": "db"})
    response = admin_client.get(url("rule-match"), {"labels": "{}"})
    assert response.context["winner"] is None
    content = response.content.decode()
    assert "No rule matches" in content
    assert "<code>team</code> must be <code>db</code> (missing)" in content


def test_the_match_tester_reports_invalid_json(admin_client):
    response = admin_client.get(url("rule-match"), {"labels": '{"team": }'})
    assert "not valid JSON" in response.context["form"].errors["labels"][0]
    assert "tested" not in response.context


# -- delivery log -----------------------------------------------------------------------


def make_delivery(rule, key, state, channel="#alerts", **fields):
    return SlackDelivery.objects.create(
        rule=rule,
        rule_name=rule.name,
        alert_id=key,
        alert_status="firing",
        idempotency_key=key,
        channel=channel,
        state=state,
        text=f"text {key}",
        **fields,
    )


def test_the_delivery_log_filters_by_state_rule_and_channel(admin_client):
    db, web = RuleFactory(name="db"), RuleFactory(name="web")
    make_delivery(db, "a", "sent", "#db")
    make_delivery(db, "b", "failed", "#db", slack_error="channel_not_found", last_error="x")
    make_delivery(web, "c", "failed", "#web")
    make_delivery(web, "d", "pending", "#web")

    def keys(**query):
        response = admin_client.get(url("delivery-list"), query)
        return sorted(d.idempotency_key for d in response.context["object_list"])

    assert keys() == ["a", "b", "c", "d"]
    assert keys(state="failed") == ["b", "c"]
    assert keys(rule=db.pk) == ["a", "b"]
    assert keys(channel="#web") == ["c", "d"]
    assert keys(state="failed", rule=web.pk) == ["c"]
    content = admin_client.get(url("delivery-list"), {"state": "failed"}).content.decode()
    assert "invite the app" in content  # the hint for channel_not_found
    assert content.count(">Resend</button>") == 2


def test_a_bad_filter_value_is_an_error_beside_it_and_the_other_filters_still_apply(
    admin_client,
):
    db = RuleFactory(name="db")
    make_delivery(db, "a", "sent")
    make_delivery(db, "b", "failed")
    response = admin_client.get(url("delivery-list"), {"state": "failed", "rule": "99999"})
    assert [d.idempotency_key for d in response.context["object_list"]] == ["b"]
    assert "rule" in response.context["filter_form"].errors
    content = response.content.decode()
    assert 'id="id_rule_error"' in content
    assert "Select a valid choice" in content
    assert 'aria-describedby="id_rule_error"' in content
    assert 'class="form-select is-invalid"' in content
    response = admin_client.get(url("delivery-list"), {"state": "bogus", "channel": "#alerts"})
    assert sorted(d.idempotency_key for d in response.context["object_list"]) == ["a", "b"]
    assert "state" in response.context["filter_form"].errors


def test_the_rule_filter_offers_only_rules_with_deliveries_and_filters_by_name(admin_client):
    db, web = RuleFactory(name="db"), RuleFactory(name="web")
    RuleFactory.create_batch(20)
    make_delivery(db, "a", "sent")
    make_delivery(web, "b", "failed")
    gone = RuleFactory(name="db-legacy")
    make_delivery(gone, "c", "failed")
    gone.delete()  # the delivery keeps rule_name, its rule is NULL
    response = admin_client.get(url("delivery-list"))
    options = list(response.context["filter_form"].fields["rule"].queryset)
    assert options == [db, web]
    content = response.content.decode()
    assert content.count("<option") == (1 + 2) + (1 + len(DeliveryState.choices))
    assert 'name="rule_name"' in content

    def keys(**query):
        found = admin_client.get(url("delivery-list"), query).context["object_list"]
        return sorted(d.idempotency_key for d in found)

    assert keys(rule_name="db-legacy") == ["c"]
    assert keys(rule_name="DB") == ["a", "c"]
    assert keys(rule_name="db", state="failed") == ["c"]
    # A rule without deliveries asked for by id is valid (and shown as selected): no rows.
    quiet = RuleFactory(name="quiet")
    response = admin_client.get(url("delivery-list"), {"rule": quiet.pk})
    assert not response.context["filter_form"].errors
    assert list(response.context["object_list"]) == []
    assert f'<option value="{quiet.pk}" selected>quiet</option>' in response.content.decode()


def test_the_delivery_log_is_ordered_and_paginated(admin_client):
    rule = RuleFactory()
    for i in range(60):
        make_delivery(rule, f"k{i:02d}", "sent")
    first = admin_client.get(url("delivery-list"))
    assert first.context["object_list"][0].idempotency_key == "k59"
    assert len(first.context["object_list"]) == 50
    second = admin_client.get(url("delivery-list"), {"page": 2})
    assert len(second.context["object_list"]) == 10
    oldest = admin_client.get(url("delivery-list"), {"ordering": "created"})
    assert oldest.context["object_list"][0].idempotency_key == "k00"


def test_a_page_past_the_end_shows_the_last_page(admin_client):
    rule = RuleFactory()
    for i in range(60):
        make_delivery(rule, f"k{i:02d}", "sent")
    past = admin_client.get(url("delivery-list"), {"page": 7})
    assert past.status_code == 200
    assert past.context["page_obj"].number == 2
    assert len(past.context["object_list"]) == 10
    assert admin_client.get(url("delivery-list"), {"page": "x"}).context["page_obj"].number == 1
    assert admin_client.get(url("delivery-list"), {"page": "last"}).context["page_obj"].number == 2
    for i in range(30):
        RuleFactory(name=f"rule-{i:02d}")
    rules = admin_client.get(url("rule-list"), {"page": 9})
    assert (rules.status_code, rules.context["page_obj"].number) == (200, 2)


def test_resending_the_last_failure_on_the_last_page_comes_back_to_the_list(
    admin_client, monkeypatch
):
    from django_slack_rules import tasks

    monkeypatch.setattr(tasks, "enqueue", lambda task, *args: None)
    rule = RuleFactory()
    for i in range(51):
        make_delivery(rule, f"k{i:02d}", "failed")
    last_page = admin_client.get(url("delivery-list"), {"state": "failed", "page": 2})
    assert len(last_page.context["object_list"]) == 1
    back = last_page.context["current_url"]
    assert back == url("delivery-list") + "?state=failed"
    assert f'name="next" value="{html.escape(back)}"' in last_page.content.decode()
    (only,) = last_page.context["object_list"]
    response = admin_client.post(
        url("delivery-resend"), {"delivery": [only.pk], "next": back}, follow=True
    )
    assert response.status_code == 200
    assert response.redirect_chain == [(back, 302)]
    assert len(response.context["object_list"]) == 50
    assert "1 delivery queued again." in response.content.decode()
    # A stale link to the page that is now gone still lands on the list.
    stale = admin_client.get(url("delivery-list"), {"state": "failed", "page": 2})
    assert (stale.status_code, stale.context["page_obj"].number) == (200, 1)


def test_the_time_header_toggles_between_newest_and_oldest_first(admin_client):
    rule = RuleFactory()
    for i in range(3):
        make_delivery(rule, f"k{i}", "sent")
    target = url("delivery-list")
    newest = admin_client.get(target, {"state": "sent"})
    assert [d.idempotency_key for d in newest.context["object_list"]] == ["k2", "k1", "k0"]
    oldest = admin_client.get(target + header_link(newest, "Time"))
    assert oldest.context["ordering"] == "created"
    assert oldest.wsgi_request.GET["state"] == "sent"
    assert [d.idempotency_key for d in oldest.context["object_list"]] == ["k0", "k1", "k2"]
    again = admin_client.get(target + header_link(oldest, "Time"))
    assert again.context["ordering"] == "-created"
    assert [d.idempotency_key for d in again.context["object_list"]] == ["k2", "k1", "k0"]
    by_rule = admin_client.get(target + header_link(newest, "Rule"))
    assert by_rule.context["ordering"] == "rule"
    assert admin_client.get(target + header_link(by_rule, "Rule")).context["ordering"] == "-rule"


def test_empty_delivery_logs_say_what_to_do(admin_client):
    assert "Test send" in admin_client.get(url("delivery-list")).content.decode()
    content = admin_client.get(url("delivery-list"), {"state": "failed"}).content.decode()
    assert "No deliveries match these filters" in content


def test_resend_queues_failed_deliveries_again(
    admin_client, django_capture_on_commit_callbacks, monkeypatch
):
    from django_slack_rules import tasks

    queued = []
    monkeypatch.setattr(tasks, "enqueue", lambda task, *args: queued.append(args))
    rule = RuleFactory()
    failed = make_delivery(rule, "f", "failed", last_error="boom", slack_error="x")
    back = url("delivery-list") + "?state=failed"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            url("delivery-resend"), {"delivery": [failed.pk], "next": back}
        )
    assert response["Location"] == back
    failed.refresh_from_db()
    assert (failed.state, failed.last_error, failed.attempts) == ("pending", "", 0)
    assert queued == [(failed.pk,)]
    assert messages_of(response) == ["1 delivery queued again."]


def test_resend_leaves_sent_deliveries_alone_and_ignores_foreign_next(admin_client):
    rule = RuleFactory()
    sent = make_delivery(rule, "s", "sent")
    response = admin_client.post(
        url("delivery-resend"), {"delivery": [sent.pk], "next": "https://evil.example/"}
    )
    assert response["Location"] == url("delivery-list")
    sent.refresh_from_db()
    assert sent.state == "sent"
    assert messages_of(response) == [
        "Nothing queued: only failed or cancelled deliveries can be resent."
    ]


def test_the_admin_action_still_resends(admin_client, django_capture_on_commit_callbacks):
    from django_slack_rules.admin import resend_deliveries

    rule = RuleFactory()
    make_delivery(rule, "f", "cancelled")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert resend_deliveries(SlackDelivery.objects.all()) == 1
    assert len(callbacks) == 1


def test_bootstrap_ships_with_its_license_and_survives_manifest_storage(settings, tmp_path):
    from django.contrib.staticfiles import finders
    from django.core.management import call_command

    css = finders.find("django_slack_rules/vendor/bootstrap/bootstrap.min.css")
    assert css
    assert finders.find("django_slack_rules/vendor/bootstrap/LICENSE")
    settings.STATIC_ROOT = str(tmp_path)
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())
    assert "django_slack_rules/vendor/bootstrap/bootstrap.min.css" in manifest["paths"]
