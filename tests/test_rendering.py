"""Templates, Slack escaping and truncation (pure: no database)."""

from __future__ import annotations

import datetime

import pytest
from django.template import TemplateSyntaxError

from django_slack_rules.rendering.templates import (
    TRUNCATION_MARKER,
    empty_variables,
    escape_slack,
    fallback_message,
    render_template,
    stray_markup,
    template_error,
    to_plain_data,
    truncate,
    undefined_variables,
)


def test_escape_slack_escapes_only_the_three_control_characters():
    assert (
        escape_slack("a & b <!channel> > 'q' \"d\"") == "a &amp; b &lt;!channel&gt; &gt; 'q' \"d\""
    )


def test_alert_values_cannot_inject_mentions_but_template_markup_is_kept():
    context = to_plain_data(
        {"labels": {"team": "<!channel> <https://evil|click>"}, "summary": "a&b"}
    )
    text = render_template("<!here> *{{ labels.team }}* {{ summary }}", context)
    assert text == "<!here> *&lt;!channel&gt; &lt;https://evil|click&gt;* a&amp;b"


def test_html_is_not_escaped_the_way_a_web_page_would_be():
    assert render_template("{{ v }}", to_plain_data({"v": 'it\'s "quoted"'})) == 'it\'s "quoted"'


def test_plain_data_turns_objects_into_strings():
    class Secretive:
        def __str__(self):
            return "just a string"

        def delete(self):  # pragma: no cover - must never be reachable
            raise AssertionError

    data = to_plain_data(
        {"obj": Secretive(), "nested": [{"x": 1.5}], "when": datetime.date(2025, 1, 2)}
    )
    assert data == {
        "obj": "just a string",
        "nested": [{"x": 1.5}],
        "when": datetime.date(2025, 1, 2),
    }


def test_syntax_errors_are_reported_with_the_cause():
    assert "Unclosed tag" in template_error("{% if x %}no end")
    assert template_error("{{ ok }}") is None


@pytest.mark.parametrize("tag", ["debug", "load static", "include 'x.html'", "url 'admin:index'"])
def test_page_only_and_introspection_tags_are_not_available(tag):
    with pytest.raises(TemplateSyntaxError):
        render_template("{% " + tag + " %}", {})


def test_filters_and_loops_work():
    text = render_template(
        "{% for k, v in labels.items %}{{ k }}={{ v|upper }} {% endfor %}{{ when|date:'Y-m-d' }}",
        {"labels": {"a": "x"}, "when": datetime.datetime(2025, 4, 8, 3, 38)},
    )
    assert text == "a=X 2025-04-08"


def test_truncate_keeps_short_text_and_marks_long_text():
    assert truncate("short", 4000) == "short"
    long = "x" * 5000
    cut = truncate(long, 4000)
    assert len(cut) <= 4000
    assert cut.endswith(TRUNCATION_MARKER)


def test_truncate_never_exceeds_slacks_hard_limit():
    assert len(truncate("y" * 50_000, 100_000)) <= 40_000


def test_truncate_does_not_cut_an_escape_or_a_link():
    limit = 100
    keep = limit - len(TRUNCATION_MARKER)
    text = "a" * (keep - 2) + "&amp;" + "b" * 200
    assert "&a" not in truncate(text, limit)
    text = "a" * (keep - 10) + "<https://example.com|link>" + "b" * 200
    cut = truncate(text, limit)
    assert "<https" not in cut
    assert cut.endswith(TRUNCATION_MARKER)


def test_fallback_names_the_alert_and_the_rule():
    text = fallback_message(
        {"alertname": "DiskFull", "status": "firing", "fingerprint": "abc", "rule": {"name": "db"}}
    )
    assert "[FIRING] DiskFull" in text
    assert "abc" in text
    assert "rule db" in text


def test_undefined_variables_names_what_renders_as_nothing_and_changes_nothing():
    source = (
        "{{ alert_name }}{{ labels.sevrity|upper }}{{ alertname }}{{ alert_name }}"
        '{{ labels.x|default:"-" }}{% if labels.y %}{{ labels.y }}{% endif %}'
        "{% for k, v in labels.items %}{{ k }}={{ v }}{% endfor %}"
    )
    context = {"alertname": "A", "labels": {"severity": "page"}}
    assert undefined_variables(source, context) == ["alert_name", "labels.sevrity"]
    assert render_template(source, context) == "A-severity=page"
    assert undefined_variables("{% widthratio 1 0 labels %}", context) == []


def test_empty_variables_names_what_the_template_prints_while_empty():
    source = (
        ":warning: *{{ alertname }}* on `{{ instance }}`: {{ summary|upper }}"
        '{% if description %}\n>{{ description }}{% endif %}{{ severity|default:"none" }}'
        "{{ instance }}"
    )
    context = {"alertname": "A", "instance": "", "summary": "", "description": "", "severity": ""}
    assert empty_variables(source, context) == ["instance", "summary"]
    assert empty_variables("{{ alertname }}", context) == []
    assert empty_variables("{% for %}", context) == []
    assert render_template(source, context) == ":warning: *A* on ``: none"


def test_stray_markup_finds_syntax_in_the_templates_own_text_only():
    assert stray_markup("{{ x } on web\n{% if y }\nok {{ z }}") == ["{{ x } on web", "{% if y }"]
    assert stray_markup("{% templatetag openvariable %} {{ summary }}") == []
    assert stray_markup("{% if %}") == []
    long = "x" * 60 + " {{ name } " + "y" * 60
    (excerpt,) = stray_markup(long)
    assert excerpt.startswith("…")
    assert excerpt.endswith("…")
    assert "{{ name }" in excerpt
