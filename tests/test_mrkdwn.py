"""The preview's mrkdwn: what Slack shows, and nothing from the message can become markup."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django_slack_rules.rendering.mrkdwn import render_mrkdwn, render_plain_text


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("*bold*", "<strong>bold</strong>"),
        ("_italic_", "<em>italic</em>"),
        ("~gone~", "<del>gone</del>"),
        ("`x *y*`", "<code>x *y*</code>"),
        ("snake_case_name 2*3*4", "snake_case_name 2*3*4"),
        (":fire: :rotating_light: :no_such_emoji:", "🔥 🚨 :no_such_emoji:"),
        ("a\nb", "a<br>b"),
        (
            ">quoted\n&gt;too\nafter",
            '<blockquote class="dsr-quote">quoted<br>too</blockquote>after',
        ),
        ("```\nline *1*\n```", '<pre class="dsr-pre">line *1*</pre>'),
        (
            "<!here> <!channel>",
            '@here</span> <span class="dsr-mention dsr-mention-special">@channel',
        ),
        ("<#C0123|ops>", '<span class="dsr-mention dsr-mention-channel">#ops</span>'),
        ("<@U0123>", '<span class="dsr-mention dsr-mention-user">@U0123</span>'),
        ("<!subteam^S1|@oncall>", '<span class="dsr-mention dsr-mention-group">@oncall</span>'),
        (
            "<https://wiki/run?a=1&amp;b=2|Runbook>",
            '<a href="https://wiki/run?a=1&amp;b=2" rel="nofollow noopener noreferrer" '
            'target="_blank">Runbook</a>',
        ),
        ("a &amp; b &lt;c&gt;", "a &amp; b &lt;c&gt;"),
    ],
)
def test_mrkdwn_is_shown_as_slack_shows_it(text, html):
    assert html in render_mrkdwn(text)


@pytest.mark.parametrize(
    "text",
    [
        "&lt;script&gt;alert(1)&lt;/script&gt;",  # an alert value, escaped for Slack
        "<script>alert(1)</script>",  # the template's own text
        '<img src=x onerror="alert(1)">',
        "<javascript:alert(1)|click>",
        '<https://x.org" onmouseover="alert(1)|x>',
        "<data:text/html,<b>x</b>|x>",
        "*<b>bold</b>*",
        "```</pre><script>x</script>```",
        '`<a href="x">`',
    ],
)
def test_nothing_in_the_message_becomes_markup(text):
    html = str(render_mrkdwn(text))
    tags = re.findall(r"<\s*([a-zA-Z]+)", html)
    assert set(tags) <= {"strong", "em", "del", "code", "pre", "br", "blockquote", "span", "a"}
    assert "<script" not in html
    assert "onerror=" not in html.replace("onerror=&quot;", "")
    assert 'href="javascript' not in html
    assert 'href="data' not in html
    for attribute in re.findall(r"<a ([^>]*)>", html):
        assert re.fullmatch(r'href="https?://[^"]*" rel="[^"]*" target="_blank"', attribute)


@given(st.text(alphabet=st.sampled_from("<>&\"'*_~`:|!#@/\n ab=j"), max_size=60))
def test_any_text_renders_to_well_formed_safe_html(text):
    html = str(render_mrkdwn(text))
    assert "<script" not in html
    opened = re.findall(r"<(strong|em|del|code|pre|blockquote|span|a)\b", html)
    closed = re.findall(r"</(strong|em|del|code|pre|blockquote|span|a)>", html)
    assert sorted(opened) == sorted(closed)
    for value in re.findall(r'="([^"]*)"', html):
        assert "<" not in value
        assert ">" not in value


def test_plain_text_is_escaped_and_shows_emoji():
    assert render_plain_text("<b>x</b> &amp; :fire:") == "&lt;b&gt;x&lt;/b&gt; &amp; 🔥"
    assert render_plain_text(":fire:", emoji=False) == ":fire:"
