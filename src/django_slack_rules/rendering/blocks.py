"""Block Kit messages: rendering a rule's blocks template to JSON, and checking the blocks.

Pure (no database, no network). A blocks template is a Django template whose output
is Block Kit JSON: a list of blocks, or an object ``{"blocks": [...]}`` as Slack's
Block Kit Builder writes it. Every value from the alert is escaped twice before
rendering: for Slack (``&``, ``<``, ``>``, as in text templates) and for a JSON
string (``"``, ``\\``, control characters), so a label can neither break the JSON
nor plant a mention or a link.

Slack's own package, ``slack-sdk`` (no dependencies), knows the block types and most
limits (``slack_sdk.models.blocks``); this module adds what it does not check (the
number of blocks, section field length, a block that is not an object) and says
which block each problem is in.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping

from django.utils.translation import gettext

from ..typing import JSONObject, JSONValue
from .templates import render_template

#: Slack takes at most this many blocks in one message.
MAX_BLOCKS = 50
#: Text limits Slack documents and slack-sdk does not check: (block type, key) → length.
SECTION_FIELD_MAX = 2000
#: Limits applied at send time to text that came from an alert (a cut, never a refusal).
TEXT_LIMITS = {"section": 3000, "header": 150, "field": SECTION_FIELD_MAX, "context": 2000}
CUT_MARKER = "…"


class BlocksError(ValueError):
    """The rendered template is not Block Kit JSON; the message says why and where."""


def json_string(value: str) -> str:
    """``value`` escaped for the inside of a JSON string (without the quotes)."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def json_safe(value: object) -> object:
    """Escape every string in ``value`` (keys too) for the inside of a JSON string.

    ``value`` is the plain template context (already escaped for Slack); numbers,
    booleans, None and datetimes are left as they are.
    """
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, Mapping):
        return {json_safe(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def parse_blocks(text: str) -> list[JSONValue]:
    """The blocks in ``text`` (a rendered blocks template); [] when it renders to nothing.

    Raises :class:`BlocksError`. A line break typed inside a JSON string is accepted
    (``strict=False``), since templates are written over several lines.
    """
    if not text.strip():
        return []
    try:
        data: JSONValue = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        line = text.splitlines()[exc.lineno - 1] if exc.lineno <= len(text.splitlines()) else ""
        raise BlocksError(
            gettext(
                "The blocks are not valid JSON: %(problem)s at line %(line)s, column %(column)s "
                "of the rendered template (“%(excerpt)s”)."
            )
            % {
                "problem": exc.msg,
                "line": exc.lineno,
                "column": exc.colno,
                "excerpt": line.strip()[:80],
            }
        ) from exc
    if isinstance(data, dict) and "blocks" in data:
        data = data["blocks"]
    if not isinstance(data, list):
        raise BlocksError(
            gettext(
                'The blocks must be a JSON list of blocks, or an object {"blocks": [...]}, '
                "not %(kind)s."
            )
            % {"kind": type(data).__name__}
        )
    return data


def render_blocks(source: str, context: Mapping[str, object]) -> list[JSONValue]:
    """Render a blocks template against ``context`` (plain, Slack-escaped data) and parse it.

    Raises the template's errors, and :class:`BlocksError` when the output is not blocks.
    """
    return parse_blocks(render_template(source, _json_safe_context(context)))


def _json_safe_context(context: Mapping[str, object]) -> dict[str, object]:
    """:func:`json_safe` of a whole context (its names escaped too)."""
    return {json_string(str(k)): json_safe(v) for k, v in context.items()}


@functools.lru_cache(maxsize=1)
def known_block_types() -> frozenset[str]:
    """The block types the installed slack-sdk knows (``section``, ``header``, …)."""
    from slack_sdk.models.blocks import Block

    found: set[str] = set()
    pending: list[type] = [Block]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        kind = getattr(cls, "type", None)
        if isinstance(kind, str):
            found.add(kind)
    return frozenset(found)


def _label(number: int, block: JSONValue) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    if isinstance(kind, str) and kind:
        return gettext("Block %(number)d (%(type)s)") % {"number": number, "type": kind}
    return gettext("Block %(number)d") % {"number": number}


def block_problems(blocks: list[JSONValue]) -> list[str]:
    """What Slack would refuse in ``blocks``: one message per problem, naming the block."""
    from slack_sdk.errors import SlackObjectFormationError
    from slack_sdk.models.blocks import Block

    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(
            gettext("There are %(count)d blocks; Slack takes at most %(max)d in one message.")
            % {"count": len(blocks), "max": MAX_BLOCKS}
        )
    known = known_block_types()
    for number, block in enumerate(blocks, start=1):
        label = _label(number, block)
        if not isinstance(block, dict):
            problems.append(
                gettext("%(block)s: a block must be a JSON object, not %(kind)s.")
                % {"block": label, "kind": type(block).__name__}
            )
            continue
        kind = block.get("type")
        if not isinstance(kind, str) or not kind:
            problems.append(gettext('%(block)s: the block has no "type".') % {"block": label})
            continue
        if kind not in known:
            problems.append(
                gettext("%(block)s: Slack has no block type “%(type)s”. Known types: %(known)s.")
                % {"block": label, "type": kind, "known": ", ".join(sorted(known))}
            )
            continue
        problem = _field_problem(block)
        if problem is None:
            try:
                parsed = Block.parse(dict(block))
                if parsed is not None:
                    parsed.to_dict()  # validates the block and everything in it
            except SlackObjectFormationError as exc:
                problem = str(exc)
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                problem = gettext("not a valid %(type)s block (%(error)s)") % {
                    "type": kind,
                    "error": exc,
                }
        if problem:
            problems.append(
                gettext("%(block)s: %(problem)s.")
                % {"block": label, "problem": problem.rstrip(".")}
            )
    return problems


def _field_problem(block: JSONObject) -> str | None:
    """Section fields over Slack's 2,000 characters (slack-sdk does not check them)."""
    fields = block.get("fields")
    if block.get("type") != "section" or not isinstance(fields, list):
        return None
    for number, field in enumerate(fields, start=1):
        text = field.get("text") if isinstance(field, dict) else None
        if isinstance(text, str) and len(text) > SECTION_FIELD_MAX:
            return gettext("field %(number)d has %(length)d characters; Slack allows %(max)d") % {
                "number": number,
                "length": len(text),
                "max": SECTION_FIELD_MAX,
            }
    return None


def _cut(text: JSONValue, limit: int) -> JSONValue:
    if isinstance(text, str) and len(text) > limit:
        return text[: limit - len(CUT_MARKER)].rstrip() + CUT_MARKER
    return text


def _cut_text_object(obj: JSONValue, limit: int) -> None:
    if isinstance(obj, dict) and "text" in obj:
        obj["text"] = _cut(obj["text"], limit)


def fit_blocks(blocks: list[JSONValue]) -> list[JSONValue]:
    """A copy of ``blocks`` cut to Slack's limits: at most 50 blocks, and over-long texts
    (an alert's long annotation in a section, header, field or context) cut with "…"."""
    fitted: list[JSONValue] = json.loads(json.dumps(blocks[:MAX_BLOCKS]))
    for block in fitted:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "section":
            _cut_text_object(block.get("text"), TEXT_LIMITS["section"])
            for field in _items(block.get("fields")):
                _cut_text_object(field, TEXT_LIMITS["field"])
        elif kind == "header":
            _cut_text_object(block.get("text"), TEXT_LIMITS["header"])
        elif kind == "context":
            for element in _items(block.get("elements")):
                _cut_text_object(element, TEXT_LIMITS["context"])
    return fitted


def _items(value: JSONValue) -> list[JSONValue]:
    """``value`` when it is a list; else none (``[]``)."""
    return value if isinstance(value, list) else []


def blocks_for_message(
    source: str, context: Mapping[str, object]
) -> tuple[list[JSONValue] | None, str]:
    """The blocks to send for a rule's blocks template, and a note when there are none.

    Never raises: a template that fails, renders to something that is not blocks, or
    to blocks Slack would refuse even once cut to its limits gives ``(None, why)``, and
    the message is sent with its text only. A template that renders to nothing gives
    ``(None, "")``.
    """
    if not source.strip():
        return None, ""
    try:
        blocks = render_blocks(source, context)
    except Exception as exc:
        return None, f"The Block Kit template failed ({type(exc).__name__}: {exc}); sent as text."
    if not blocks:
        return None, ""
    fitted = fit_blocks(blocks)
    problems = block_problems(fitted)
    if problems:
        return None, f"The blocks are not valid ({problems[0]}); sent as text."
    note = (
        "" if len(blocks) <= MAX_BLOCKS else f"Sent the first {MAX_BLOCKS} of {len(blocks)} blocks."
    )
    return fitted, note
