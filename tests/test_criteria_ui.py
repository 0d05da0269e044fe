"""The rule pages with both criteria forms and fan-out: the form's text box and rows, the
chips on the list, the match tester's verdicts, the preview and the delivery log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.messages import get_messages

import django_slack_rules
from django_slack_rules.matching.criteria_text import criteria_from_text, criteria_to_text
from django_slack_rules.models import DeliveryState, SlackDelivery, SlackIntegrationRule
from tests.factories import RuleFactory
from tests.utils import url

pytestmark = pytest.mark.django_db

STATIC = Path(django_slack_rules.__file__).resolve().parent / "static" / "django_slack_rules"


def rule_data(**changes):
    data = {
        "name": "pager",
        "priority": "10",
        "match_criteria": "{}",
        "slack_channel": "#pager",
        "message_template": "{{ alertname }}",
        "is_active": "on",
    }
    data.update(changes)
    return data


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


# -- the text box ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ('{"team": "db"}', {"team": "db"}),
        ("{}", {}),
        ("[]", []),
        ('severity =~ critical|page\n\nteam!="db"', ['severity=~"critical|page"', 'team!="db"']),
        ('{severity="critical", env=~"prod|eu"}', ['severity="critical"', 'env=~"prod|eu"']),
        ('team="db", env="prod"', ['team="db"', 'env="prod"']),
        ('["env=prod", "x!~a.*"]', ["env=prod", "x!~a.*"]),
    ],
)
def test_the_box_takes_json_or_alertmanager_matchers(admin_client, text, stored):
    response = admin_client.post(url("rule-create"), rule_data(match_criteria=text))
    assert response.status_code == 302, response.context["form"].errors
    assert SlackIntegrationRule.objects.get(name="pager").match_criteria == stored


def test_the_box_shows_a_list_one_matcher_a_line_and_saves_it_back_unchanged(admin_client):
    rule = RuleFactory(name="pager", match_criteria=['severity=~"critical|page"', 'team!="db"'])
    form = admin_client.get(url("rule-update", rule.pk)).context["form"]
    shown = form["match_criteria"].value()
    assert form.fields["match_criteria"].prepare_value(shown) == (
        'severity=~"critical|page"\nteam!="db"'
    )
    assert criteria_from_text(criteria_to_text(rule.match_criteria)) == rule.match_criteria
    assert criteria_to_text({"team": "db"}) == '{\n  "team": "db"\n}'
    assert criteria_to_text(['a="x\\ny"', "b=1"]) == 'a="x\\ny"\nb=1'


def test_continue_matching_is_saved(admin_client):
    admin_client.post(url("rule-create"), rule_data(continue_matching="on"))
    assert SlackIntegrationRule.objects.get(name="pager").continue_matching


def test_the_rows_editor_is_there_for_javascript_and_hidden_without_it(admin_client):
    content = admin_client.get(url("rule-create")).content.decode()
    assert 'data-dsr-criteria-editor data-target="id_match_criteria"' in content
    editor = content[content.index("data-dsr-criteria-editor") :]
    assert editor[: editor.index(">")].endswith("hidden")
    assert '<script src="/static/django_slack_rules/criteria.js" defer></script>' in content
    assert '<textarea name="match_criteria"' in content  # the editor without JavaScript
    assert (STATIC / "criteria.js").read_text().startswith("/* django-slack-rules")


# -- the regex warning ----------------------------------------------------------------


def test_a_regex_that_does_not_match_the_sample_is_a_warning_after_saving(admin_client):
    response = admin_client.post(
        url("rule-create"),
        rule_data(
            match_criteria='severity=~"crit"\nteam!~"db|web"\nenv="prod"',
            sample_labels='{"severity": "critical", "team": "db", "env": "staging"}',
        ),
    )
    assert response.status_code == 302
    # Saved with a warning is not a success: the warning is the only message.
    [message] = messages_of(response)
    assert message.startswith("Saved, but these regexes do not match the sample labels:")
    assert "<code>severity</code> must match <code>crit</code> (is <code>critical</code>)" in (
        message
    )
    assert "it must match all of it (add .* where the value goes on)" in message
    assert "<code>team</code> must not match <code>db|web</code> (is <code>db</code>)" in message
    assert "env" not in message  # only regexes: the sample is the operator's to choose


def test_the_warning_is_on_the_form_when_it_does_not_save(admin_client):
    response = admin_client.post(
        url("rule-create"),
        rule_data(name="", match_criteria='job=~"node"', sample_labels='{"job": "node-exporter"}'),
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "This regex does not match the sample labels" in content
    assert (
        "<code>job</code> must match <code>node</code> (is <code>node-exporter</code>)" in content
    )


def test_save_and_preview_takes_the_sample_labels_along(admin_client):
    sample = {"severity": "page", "team": "web"}
    response = admin_client.post(
        url("rule-create"),
        {
            **rule_data(match_criteria='severity=~"critical|page"'),
            "sample_labels": json.dumps(sample),
            "_preview": "",
        },
    )
    assert messages_of(response) == ["Rule “pager” created."]  # the regex matches: no warning
    preview = admin_client.get(response["Location"]).context["preview"]
    assert preview.labels == sample
    assert preview.mismatches == []


# -- the list --------------------------------------------------------------------------------


def test_the_list_shows_matchers_as_chips_and_who_continues(admin_client):
    RuleFactory(
        name="pager",
        priority=9,
        match_criteria=['severity=~"critical|page"', 'team!="db"'],
        continue_matching=True,
    )
    broken = RuleFactory(name="broken", priority=1)
    SlackIntegrationRule.objects.filter(pk=broken.pk).update(match_criteria=["team db"])
    content = admin_client.get(url("rule-list")).content.decode()
    assert (
        '<code class="dsr-pair dsr-op-re" title="matches the regex">'
        "severity=~&quot;critical|page&quot;</code>"
    ) in content
    assert '<code class="dsr-pair dsr-op-ne" title="does not equal">team!=&quot;db&quot;' in content
    assert '<span class="badge text-bg-info dsr-continue"' in content
    assert "invalid criteria</span>" in content
    assert 'title="matcher 1 (&quot;team db&quot;): expected one of' in content


# -- the match tester --------------------------------------------------------------------------


def fan_out_rules():
    RuleFactory(
        name="pager",
        priority=30,
        match_criteria=['severity=~"critical|page"'],
        continue_matching=True,
        slack_channel="#pager",
    )
    RuleFactory(name="web", priority=20, match_criteria={"team": "web"}, slack_channel="#web")
    RuleFactory(name="catch-all", priority=0, match_criteria=[], slack_channel="#all")
    RuleFactory(name="db", priority=10, match_criteria=['team="db"', 'env!~"dev|test"'])


def test_the_match_tester_shows_the_fan_out_and_why_the_others_do_not_get_it(admin_client):
    fan_out_rules()
    labels = json.dumps({"severity": "page", "team": "web"})
    response = admin_client.get(url("rule-match"), {"labels": labels})
    context = response.context
    assert [r.name for r in context["selected"]] == ["pager", "web"]
    assert [r.name for r in context["candidates"]] == ["pager", "web", "catch-all"]
    content = response.content.decode()
    assert "2 rules get this alert" in content
    assert "<strong>pager</strong> → <code>#pager</code>" in content
    assert "<strong>web</strong> → <code>#web</code>" in content
    assert "It continues matching, so the next matching rule gets the alert too." in content
    assert "Gets it too: the rule before it continues matching." in content
    assert "Does not get it: web takes the alert and does not continue matching." in content
    assert "<code>team</code> must be <code>db</code> (is <code>web</code>)" in content
    assert "✓</span> <code>env!~&quot;dev|test&quot;</code>" in content


def test_the_match_tester_explains_each_operator(admin_client):
    RuleFactory(name="a", match_criteria=['severity=~"crit"'])
    RuleFactory(name="b", match_criteria=['team!="web"'])
    RuleFactory(name="c", match_criteria=['env!~".*"'])
    RuleFactory(name="d", match_criteria=['zone=""'])
    RuleFactory(name="e", match_criteria=['owner=~".+"'])
    labels = json.dumps({"severity": "critical", "team": "web", "zone": "eu"})
    content = admin_client.get(url("rule-match"), {"labels": labels}).content.decode()
    for sentence in [
        "<code>severity</code> must match <code>crit</code> (is <code>critical</code>) "
        '<span class="dsr-anchored">',
        "<code>team</code> must not be <code>web</code> (is <code>web</code>)",
        "<code>env</code> must not match <code>.*</code> (missing, which counts as empty)",
        "<code>zone</code> must be empty or missing (is <code>eu</code>)",
        "<code>owner</code> must match <code>.+</code> (missing, which counts as empty)",
    ]:
        assert sentence in content


def test_the_match_tester_names_rules_left_out_for_invalid_criteria(admin_client):
    broken = RuleFactory(name="broken")
    SlackIntegrationRule.objects.filter(pk=broken.pk).update(match_criteria=["team db"])
    content = admin_client.get(url("rule-match"), {"labels": "{}"}).content.decode()
    assert "1 active rule is left out of matching because its criteria are invalid" in content
    assert "<strong>broken</strong>: matcher 1" in content


# -- the preview ---------------------------------------------------------------------------------


def test_the_preview_shows_every_rule_that_gets_the_sample(admin_client):
    fan_out_rules()
    web = SlackIntegrationRule.objects.get(name="web")
    labels = {"severity": "page", "team": "web", "alertname": "HighCPU"}
    response = admin_client.get(url("rule-preview", web.pk), {"labels": json.dumps(labels)})
    content = response.content.decode()
    assert "A real alert like this goes to 2 rules, one message each:" in content
    assert "<li>pager → <code>#pager</code>" in content
    assert "<li><strong>web</strong> (this rule) → <code>#web</code></li>" in content


def test_the_preview_says_when_the_chain_stops_before_the_rule(admin_client):
    fan_out_rules()
    catch_all = SlackIntegrationRule.objects.get(name="catch-all")
    labels = {"severity": "page", "team": "web"}
    content = admin_client.get(
        url("rule-preview", catch_all.pk), {"labels": json.dumps(labels)}
    ).content.decode()
    assert "These labels match, but a real alert like this would not reach this rule" in content
    assert "<strong>pager</strong> → <strong>web</strong>." in content


def test_the_preview_opens_with_labels_the_list_form_matches(admin_client):
    rule = RuleFactory(
        match_criteria=['severity=~"page|critical"', 'team="db"', 'alertname!="HighCPU"']
    )
    preview = admin_client.get(url("rule-preview", rule.pk)).context["preview"]
    assert preview.labels == {"severity": "page", "instance": "web-1:9100", "team": "db"}
    assert preview.mismatches == []


# -- the delivery log ------------------------------------------------------------------------------


def delivery(rule, channel, alert_id="7", occurrence="1", **fields):
    return SlackDelivery.objects.create(
        rule=rule,
        rule_name=rule.name,
        alert_id=alert_id,
        alert_status="firing",
        occurrence=occurrence,
        idempotency_key=SlackDelivery.make_key(rule.pk, alert_id, "firing", occurrence),
        channel=channel,
        state=DeliveryState.SENT,
        **fields,
    )


def test_the_delivery_log_shows_which_rules_got_the_same_alert(
    admin_client, django_assert_max_num_queries
):
    pager, web = RuleFactory(name="pager"), RuleFactory(name="web")
    delivery(pager, "#pager")
    delivery(web, "#web")
    delivery(web, "#web", alert_id="8")
    delivery(web, "#web", occurrence="2")  # a new firing: another notification
    # (+2 for the header's busy channels: the lines and digests, and Slack's pauses)
    with django_assert_max_num_queries(10):
        response = admin_client.get(url("delivery-list"))
    content = response.content.decode()
    assert content.count("2 rules got it") == 2
    assert "web → <code>#web</code></div>" in content
    assert "pager → <code>#pager</code></div>" in content
    assert '<a href="?alert=7"' in content
    filtered = admin_client.get(url("delivery-list"), {"alert": "7"})
    assert len(filtered.context["object_list"]) == 3
    assert "Showing the messages of alert 7 only" in filtered.content.decode()


def test_the_new_sentences_in_german(admin_client):
    from django.utils import translation

    fan_out_rules()
    with translation.override("de"):
        labels = json.dumps({"severity": "page", "team": "web"})
        content = admin_client.get(url("rule-match"), {"labels": labels}).content.decode()
        assert "2 Regeln erhalten diesen Alert" in content
        assert "Erhält ihn auch: Die Regel davor gleicht weiter ab." in content
        assert "<code>team</code> muss <code>db</code> sein (ist <code>web</code>)" in content
        response = admin_client.post(
            url("rule-create"), rule_data(match_criteria='team="db"\nseverity critical')
        )
        [error] = response.context["form"].errors["match_criteria"]
        assert error.startswith('Zeile 2 ("severity critical"): expected one of =, !=, =~, !~')
        form = admin_client.get(url("rule-create")).content.decode()
        assert ">Bedingung hinzufügen</button>" in form
        assert "Weiter abgleichen" in form
