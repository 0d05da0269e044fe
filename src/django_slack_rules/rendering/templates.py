"""Rule templates: compiling, rendering against plain data, Slack escaping, truncation.

Everything here is pure (no database, no network). Templates use the Django
Template Language on a private engine: HTML autoescaping is off (Slack is not
HTML) and instead every value that comes from the alert is escaped for Slack
(``&``, ``<``, ``>``) before rendering, so a label cannot inject ``<!channel>``
or a link while the template's own markup (``<!here>``, ``*bold*``) is kept.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re
import uuid
from collections.abc import Mapping
from typing import overload

from django.template import (
    Context,
    Engine,
    Library,
    Template,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
    loader_tags,
)
from django.template.base import TextNode, VariableNode

from ..typing import PlainValue

TRUNCATION_MARKER = "\n… (message truncated)"

#: Slack rejects ``text`` longer than this.
SLACK_MAX_MESSAGE_LENGTH = 40_000

# Tags that only make sense in a site's page templates, or that print the whole
# context and the interpreter's modules.
_EXCLUDED_TAGS = frozenset({"debug", "load", "csrf_token", "url", "include", "extends"})

_SLACK_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SLACK_ESCAPE_RE = re.compile(r"[&<>]")
_PARTIAL_ENTITY_RE = re.compile(r"&[a-z]{0,3}$")


def escape_slack(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` the way Slack's message format requires."""
    return _SLACK_ESCAPE_RE.sub(lambda m: _SLACK_ESCAPES[m.group()], text)


_SLACK_UNESCAPE_RE = re.compile(r"&(amp|lt|gt);")
_SLACK_UNESCAPES = {"amp": "&", "lt": "<", "gt": ">"}


def unescape_slack(text: str) -> str:
    """Undo :func:`escape_slack`: the text as it was before it was escaped."""
    return _SLACK_UNESCAPE_RE.sub(lambda m: _SLACK_UNESCAPES[m.group(1)], text)


@overload
def to_plain_data(value: str, *, escape: bool = True) -> str: ...
@overload
def to_plain_data(value: Mapping[str, object], *, escape: bool = True) -> dict[str, PlainValue]: ...
@overload
def to_plain_data(value: object, *, escape: bool = True) -> PlainValue: ...
def to_plain_data(value: object, *, escape: bool = True) -> PlainValue:
    """Turn ``value`` into plain, template-safe data, Slack-escaping every string.

    Allowed through: str, int, float, bool, None, dates and datetimes, and dicts,
    lists and tuples of those. Decimals and UUIDs become strings; anything else
    (model instances, managers, callables) becomes its ``str()``, so a template
    can never reach an object with methods.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return escape_slack(value) if escape else value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value
    if isinstance(value, Mapping):
        return {
            to_plain_data(str(k), escape=escape): to_plain_data(v, escape=escape)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain_data(v, escape=escape) for v in value]
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    return to_plain_data(str(value), escape=escape)


def _build_engine(string_if_invalid: str = "") -> Engine:
    engine = Engine(
        autoescape=False, libraries={}, builtins=[], string_if_invalid=string_if_invalid
    )
    tags = Library()
    tags.tags.update(
        {k: v for k, v in defaulttags.register.tags.items() if k not in _EXCLUDED_TAGS}
    )
    blocks = Library()
    blocks.tags.update(
        {k: v for k, v in loader_tags.register.tags.items() if k not in _EXCLUDED_TAGS}
    )
    engine.template_builtins = [tags, defaultfilters.register, blocks]
    return engine


@functools.lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The private template engine for rule templates (no loaders, no HTML escaping)."""
    return _build_engine()


# What a variable the context does not have renders as on the checking engine; it never
# reaches Slack (messages are rendered by get_engine(), whose string_if_invalid is "").
_UNDEFINED_MARK = "\x00dsr-undefined:%s\x00"
_UNDEFINED_RE = re.compile("\x00dsr-undefined:(.*?)\x00", re.DOTALL)

#: Template syntax that, in a template's text, means a tag or variable Django did not read.
STRAY_MARKERS = ("{{", "}}", "{%", "%}")
_EXCERPT_WIDTH = 40


@functools.lru_cache(maxsize=1)
def _checking_engine() -> Engine:
    return _build_engine(string_if_invalid=_UNDEFINED_MARK)


def undefined_variables(source: str, context: Mapping[str, object]) -> list[str]:
    """The variables ``source`` prints that ``context`` does not have, e.g. ``labels.sevrity``.

    Each renders as nothing in the real message. Found by rendering ``source`` a second
    time on a checking engine; variables given a ``default`` filter, and those only
    tested (``{% if %}``) or looped over, are not reported. [] if the template fails.
    """
    try:
        template = Template(source, engine=_checking_engine())
        text = template.render(Context(dict(context), autoescape=False))
    except Exception:
        return []
    defaulted = set()
    for node in template.nodelist.get_nodes_by_type(VariableNode):
        expression = node.filter_expression  # type: ignore[attr-defined]
        if any(getattr(func, "__name__", "") == "default" for func, _ in expression.filters):
            defaulted.add(str(expression.var))
    found: list[str] = []
    for name in _UNDEFINED_RE.findall(text):
        if name not in defaulted and name not in found:
            found.append(name)
    return found


class _Empty(str):
    """An empty context value for :func:`empty_variables`: false in ``{% if %}`` and to
    ``|default`` (as "" is), but printed as a mark naming the variable."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False


_EMPTY_RE = re.compile("\x00dsr-empty:(.*?)\x00", re.DOTALL | re.IGNORECASE)


def empty_variables(source: str, context: Mapping[str, object]) -> list[str]:
    """The context's variables that ``source`` prints while they are empty, e.g.
    ``instance`` for an alert without an instance label: Slack gets "on ``". Only what the
    template prints (not what an ``{% if %}`` skips, nor a ``|default``); [] if it fails."""
    marked = {
        key: _Empty(f"\x00dsr-empty:{key}\x00") if value == "" else value
        for key, value in context.items()
    }
    try:
        text = Template(source, engine=_checking_engine()).render(Context(marked, autoescape=False))
    except Exception:
        return []
    # A filter may have changed the mark's case (|upper): name the key it came from.
    keys = {str(key).lower(): str(key) for key in context}
    found = [keys.get(name.lower(), name) for name in _EMPTY_RE.findall(text)]
    return list(dict.fromkeys(found))


def stray_markup(source: str) -> list[str]:
    """Lines of ``source`` with template syntax that Django reads as plain text.

    A variable with one closing brace (``{{ alertname }``) or a tag missing its ``%``
    is not an error for Django: it is sent as typed. Only the template's own text is
    searched, never values from the alert. [] if the template does not compile.
    """
    try:
        template = compile_template(source)
    except TemplateSyntaxError:
        return []
    found: list[str] = []
    for node in template.nodelist.get_nodes_by_type(TextNode):
        text: str = node.s  # type: ignore[attr-defined]
        for marker in STRAY_MARKERS:
            start = text.find(marker)
            while start != -1:
                line_start = text.rfind("\n", 0, start) + 1
                line_end = text.find("\n", start)
                line = text[line_start : line_end if line_end != -1 else len(text)].strip()
                if len(line) > _EXCERPT_WIDTH:
                    at = max(0, line.find(marker) - _EXCERPT_WIDTH // 2)
                    line = f"{'…' if at else ''}{line[at : at + _EXCERPT_WIDTH]}…"
                if line not in found:
                    found.append(line)
                start = text.find(marker, start + len(marker))
    return found


@functools.lru_cache(maxsize=512)
def compile_template(source: str) -> Template:
    """Compile a rule template; raises ``TemplateSyntaxError`` naming the problem."""
    return Template(source, engine=get_engine())


def template_error(source: str) -> str | None:
    """Return a readable description of why ``source`` does not compile, or None."""
    try:
        compile_template(source)
    except TemplateSyntaxError as exc:
        return str(exc)
    return None


def render_template(source: str, context: Mapping[str, object]) -> str:
    """Render ``source`` against ``context`` (already plain, escaped data).

    Raises whatever the template raises (``TemplateSyntaxError`` and friends);
    the caller decides on a fallback.
    """
    return compile_template(source).render(Context(dict(context), autoescape=False)).strip()


def fallback_message(context: Mapping[str, object]) -> str:
    """A plain message naming the alert, used when a rule's template fails at render time."""
    group = context.get("alert_group", {})
    name = context.get("alertname") or _get(group, "name") or "alert"
    status = str(context.get("status") or "").upper() or "ALERT"
    parts = [f"[{status}] {name}"]
    for key in ("severity", "instance", "summary"):
        if context.get(key):
            parts.append(f"{key}: {context[key]}")
    if context.get("fingerprint"):
        parts.append(f"fingerprint: {context['fingerprint']}")
    rule_name = _get(context.get("rule") or {}, "name")
    if rule_name:
        parts.append(f"(rule {rule_name!s}: its template failed to render; see the logs)")
    return "\n".join(parts)


def _get(mapping: object, key: str) -> object:
    """``mapping[key]``, or None when it has no such key (or is not a mapping)."""
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with a visible marker.

    Never cuts through an escape sequence (``&amp;``) or an open Slack link
    (``<https://…|label>``).
    """
    limit = max(len(TRUNCATION_MARKER) + 1, min(int(limit), SLACK_MAX_MESSAGE_LENGTH))
    if len(text) <= limit:
        return text
    head = text[: limit - len(TRUNCATION_MARKER)]
    head = _PARTIAL_ENTITY_RE.sub("", head)
    open_link = head.rfind("<")
    if open_link > head.rfind(">"):
        head = head[:open_link]
    return head.rstrip() + TRUNCATION_MARKER
