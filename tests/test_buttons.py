"""The buttons on a rule's message, as Block Kit (pure: no database, no network)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from slack_sdk.models.blocks import Block

from django_slack_rules.buttons import (
    action_of,
    actions_block,
    after_actions,
    silence_seconds,
    validate_actions,
    with_buttons,
)
from django_slack_rules.rendering.blocks import MAX_BLOCKS, block_problems

REF = "rule:3|alert:42|firing|occ:7"
URL = "https://alerts.example.com/alerts/fp1/"


def test_the_actions_block_is_one_slack_takes():
    block = actions_block(
        ["acknowledge", "silence", "open"], ref=REF, url=URL, host_name="SentryHub"
    )
    assert block_problems([block]) == []
    assert Block.parse(block).to_dict() == block
    assert block["block_id"] == REF
    acknowledge, silence, link = block["elements"]
    assert acknowledge == {
        "type": "button",
        "action_id": "dsr_acknowledge",
        "text": {"type": "plain_text", "text": "Acknowledge", "emoji": True},
        "value": "acknowledge",
        "style": "primary",
    }
    assert silence["type"] == "static_select"
    assert silence["placeholder"]["text"] == "Silence for…"
    assert [(o["value"], o["text"]["text"]) for o in silence["options"]] == [
        ("3600", "1 hour"),
        ("14400", "4 hours"),
        ("86400", "24 hours"),
    ]
    assert (link["type"], link["url"], link["text"]["text"]) == ("button", URL, "Open in SentryHub")


def test_the_buttons_keep_their_order_and_need_a_url_to_link():
    block = actions_block(["open", "acknowledge"], ref=REF, url=None)
    assert [e["action_id"] for e in block["elements"]] == ["dsr_acknowledge"]
    assert actions_block(["open"], ref=REF, url=None) is None
    assert actions_block(["open"], ref=REF, url=URL)["elements"][0]["text"]["text"] == "Open"
    with pytest.raises(ValueError, match="at most 255"):
        actions_block(["acknowledge"], ref="x" * 256)


def test_a_text_only_message_gets_its_text_as_a_section_then_the_buttons():
    block = actions_block(["acknowledge"], ref=REF)
    text = "*HighCPU* " + "x" * 3500
    section, buttons = with_buttons(text, None, block)
    assert section["type"] == "section"
    assert section["text"]["type"] == "mrkdwn"
    assert len(section["text"]["text"]) == 3000  # Slack's section limit, cut with "…"
    assert section["text"]["text"].endswith("…")
    assert buttons == block


def test_block_kit_messages_get_the_buttons_at_the_end_within_slacks_50_blocks():
    block = actions_block(["acknowledge"], ref=REF)
    own = [{"type": "divider"} for _ in range(MAX_BLOCKS)]
    sent = with_buttons("text", own, block)
    assert len(sent) == MAX_BLOCKS
    assert sent[-1] == block
    assert with_buttons("text", [{"type": "divider"}], block) == [{"type": "divider"}, block]


def test_after_an_action_its_button_goes_and_a_line_says_who():
    block = actions_block(["acknowledge", "silence"], ref=REF)
    blocks = with_buttons("HighCPU", None, block)
    after = after_actions(blocks, REF, ["acknowledge"], ["Acknowledged by <@U1>"])
    assert [e["action_id"] for e in after[1]["elements"]] == ["dsr_silence"]
    assert after[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Acknowledged by <@U1>"}],
    }
    both = after_actions(blocks, REF, ["acknowledge", "silence"], ["a", "b"])
    assert [b["type"] for b in both] == ["section", "context"]  # no empty actions block
    assert both[-1]["elements"][0]["text"] == "a\nb"
    assert blocks[1]["elements"][0]["action_id"] == "dsr_acknowledge"  # not changed in place
    # Another block with the same type but another id is not ours.
    theirs = {**block, "block_id": "theirs"}
    assert after_actions([theirs], REF, ["acknowledge", "silence"], []) == [theirs]


def test_action_ids_and_durations_are_read_strictly():
    assert action_of("dsr_acknowledge") == "acknowledge"
    assert action_of("dsr_delete") is None
    assert action_of("acknowledge") is None
    assert silence_seconds("3600") == 3600
    assert silence_seconds("60") is None  # not an offered duration
    assert silence_seconds("x") is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("acknowledge", "must be a list"),
        (["acknowledge", 1], "must be a list"),
        (["acknowledge", "delete"], "Unknown action 'delete'"),
        (["open", "open"], "Name each action once"),
    ],
)
def test_a_rules_actions_are_validated(value, message):
    with pytest.raises(ValidationError, match=message):
        validate_actions(value)
    validate_actions(["acknowledge", "silence", "open"])
    validate_actions([])
