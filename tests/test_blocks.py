"""Block Kit templates: rendered with alert values escaped for JSON and mrkdwn, checked as Slack
would check them, and fitted to Slack's limits at send time."""

from __future__ import annotations

import json

import pytest

from django_slack_rules.rendering.blocks import (
    BlocksError,
    block_problems,
    blocks_for_message,
    fit_blocks,
    parse_blocks,
    render_blocks,
)

SECTION = '{"type": "section", "text": {"type": "mrkdwn", "text": "%s"}}'


def context(**values):
    base = {"alertname": "HighCPU", "summary": "CPU high", "labels": {"team": "db"}}
    return {**base, **values}


def test_a_label_cannot_break_the_json_or_plant_a_mention():
    nasty = 'x", "type": "header"} ] \\ <!channel> <https://evil|click>\n'
    # The context is Slack-escaped already (adapters.build_context); JSON escaping is added.
    slack_escaped = nasty.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    [block] = render_blocks(
        "[" + SECTION % "*{{ alertname }}*" + "]", context(alertname=slack_escaped)
    )
    text = block["text"]["text"]
    assert text == "*" + slack_escaped + "*"
    assert "<!channel>" not in text
    assert "<https" not in text
    assert block_problems([block]) == []


def test_the_templates_own_markup_is_kept_and_lines_may_break_inside_strings():
    source = """{"blocks": [
      {"type": "section", "text": {"type": "mrkdwn", "text": "<!here> *{{ alertname }}*
{{ summary }}"}}
    ]}"""
    [block] = render_blocks(source, context())
    assert block["text"]["text"] == "<!here> *HighCPU*\nCPU high"


def test_a_template_that_renders_nothing_has_no_blocks():
    assert render_blocks("{% if status == 'firing' %}[]{% endif %}", context()) == []
    assert blocks_for_message("{% if False %}[]{% endif %}", context()) == (None, "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"type": "divider"},]', "not valid JSON"),
        ('{"type": "divider"}', "must be a JSON list of blocks"),
        ('"divider"', "must be a JSON list of blocks"),
    ],
)
def test_what_is_not_blocks_is_named(text, message):
    with pytest.raises(BlocksError, match=message):
        parse_blocks(text)


def test_each_problem_names_its_block():
    blocks = [
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}},
        {"type": "sectoin"},
        "divider",
        {"text": "no type"},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "b" * 80}, "url": "https://x"}]},
    ]  # fmt: skip
    problems = block_problems(blocks)
    assert problems[0] == "Block 2 (header): text attribute cannot exceed 150 characters."
    assert problems[1] == "Block 3 (section): text attribute cannot exceed 3000 characters."
    assert problems[2].startswith("Block 4 (sectoin): Slack has no block type “sectoin”. Known")
    assert "section" in problems[2]
    assert "header" in problems[2]
    assert problems[3] == "Block 5: a block must be a JSON object, not str."
    assert problems[4] == 'Block 6: the block has no "type".'
    assert problems[5] == "Block 7 (section): field 1 has 2001 characters; Slack allows 2000."
    assert problems[6] == "Block 8 (actions): text attribute cannot exceed 75 characters."
    assert len(problems) == 7


def test_more_than_fifty_blocks_is_a_problem():
    assert block_problems([{"type": "divider"}] * 51) == [
        "There are 51 blocks; Slack takes at most 50 in one message."
    ]


def test_at_send_time_long_alert_values_are_cut_to_slacks_limits():
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 400}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 5000},
         "fields": [{"type": "mrkdwn", "text": "f" * 2500}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 2500}]},
    ]  # fmt: skip
    fitted = fit_blocks(blocks)
    assert [len(fitted[0]["text"]["text"]), len(fitted[1]["text"]["text"])] == [150, 3000]
    assert len(fitted[1]["fields"][0]["text"]) == 2000
    assert fitted[0]["text"]["text"].endswith("…")
    assert block_problems(fitted) == []
    assert len(blocks[0]["text"]["text"]) == 400  # the input is not changed


def test_blocks_for_message_falls_back_to_text_and_says_why():
    blocks, note = blocks_for_message('[{"type": "nope"}]', context())
    assert blocks is None
    assert note.startswith("The blocks are not valid (Block 1 (nope): Slack has no block type")
    blocks, note = blocks_for_message("{% for %}", context())
    assert (blocks, note.split(" (")[0]) == (None, "The Block Kit template failed")
    many = json.dumps([{"type": "divider"}] * 60)
    blocks, note = blocks_for_message(many, context())
    assert len(blocks) == 50
    assert note == "Sent the first 50 of 60 blocks."


def test_the_documented_example_renders_to_blocks_slack_takes(db):
    from pathlib import Path

    from django_slack_rules.rendering.samples import sample_context
    from tests.factories import RuleFactory

    doc = (Path(__file__).resolve().parent.parent / "docs" / "templates.md").read_text()
    section = doc[doc.index("## Block Kit messages") :]
    start = section.index("```django\n") + len("```django\n")
    example = section[start : section.index("\n```", start)]
    rule = RuleFactory()
    for status in ("firing", "resolved"):
        annotations = {"summary": 'Disk "full"', "runbook_url": "https://wiki/disk"}
        context = sample_context(rule, {"alertname": "DiskFull"}, annotations, status)
        blocks = render_blocks(example, context)
        assert block_problems(blocks) == []
        assert [b["type"] for b in blocks] == ["header", "section", "context", "actions"]
        assert blocks[1]["text"]["text"].startswith('*Disk "full"*\n')
