"""Small helpers for the rule pages: badge colours, matcher chips, links that keep the query
string, sorting."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django import template
from django.template import Context
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy

from ..buttons import action_label as _action_label
from ..buttons import duration_label, silence_seconds
from ..matching.compiled import criteria_matchers
from ..matching.matchers import EQUAL, NOT_EQUAL, NOT_REGEX, REGEX, CriteriaError, Matcher
from ..models import DeliveryState
from ..rendering.mrkdwn import render_mrkdwn, render_plain_text
from ..rendering.mrkdwn import safe_url as _safe_url

register = template.Library()

_STATE_CLASSES = {
    "sent": "text-bg-success",
    "failed": "text-bg-danger",
    "pending": "text-bg-warning",
    "sending": "text-bg-info",
    "cancelled": "text-bg-secondary",
    "digested": "text-bg-primary",
}


@register.filter
def state_badge(state: object) -> str:
    """The Bootstrap badge class for a delivery state."""
    return _STATE_CLASSES.get(str(state), "text-bg-light")


_ACTION_CLASSES = {
    "done": "text-bg-success",
    "failed": "text-bg-danger",
    "refused": "text-bg-warning",
    "pending": "text-bg-info",
    "taking": "text-bg-info",
    "duplicate": "text-bg-secondary",
}


@register.filter
def action_badge(state: object) -> str:
    """The Bootstrap badge class for the state of a click from Slack."""
    return _ACTION_CLASSES.get(str(state), "text-bg-light")


@register.filter
def action_label(action: object) -> str:
    """An action's name in the active language ("acknowledge" → "Acknowledge")."""
    return _action_label(str(action))


@register.filter
def silence_duration(value: object) -> str:
    """A silence's duration chosen in Slack ("3600" → "1 hour"); "" for one not offered."""
    seconds = silence_seconds(str(value))
    return "" if seconds is None else duration_label(seconds)


@register.filter
def state_label(state: object) -> str:
    """A delivery state's label in the active language ("sent" → "gesendet"); unknown: as is."""
    try:
        return str(DeliveryState(str(state)).label)
    except ValueError:
        return str(state)


_OP_CLASSES = {EQUAL: "eq", NOT_EQUAL: "ne", REGEX: "re", NOT_REGEX: "nre"}
_OP_LABELS = {
    EQUAL: gettext_lazy("equals"),
    NOT_EQUAL: gettext_lazy("does not equal"),
    REGEX: gettext_lazy("matches the regex"),
    NOT_REGEX: gettext_lazy("does not match the regex"),
}


@dataclass
class Chips:
    """A rule's criteria as matchers for display, or why they cannot be read."""

    matchers: tuple[Matcher, ...] = ()
    error: str = ""


@register.filter
def criteria_chips(criteria: object) -> Chips:
    """A rule's ``match_criteria`` as matchers (``.matchers``), or ``.error`` when they do
    not parse (a row written around validation)."""
    try:
        return Chips(matchers=criteria_matchers(criteria))
    except CriteriaError as exc:
        return Chips(error=str(exc))


@register.filter
def op_class(op: str) -> str:
    """A CSS suffix for a matcher operator: ``eq``, ``ne``, ``re``, ``nre``."""
    return _OP_CLASSES.get(op, "eq")


@register.filter
def op_label(op: str) -> str:
    """What a matcher operator means, in the active language ("matches the regex")."""
    return str(_OP_LABELS.get(op, op))


@register.filter
def code_or(values: Iterable[object]) -> SafeString:
    """Each value in ``<code>``, joined with a translated "or": ``<code>a</code> or <code>b</code>``."""
    separator = format_html(" {} ", gettext("or"))
    return format_html_join(separator, "<code>{}</code>", ((value,) for value in values))


@register.filter
def mrkdwn(text: object) -> SafeString:
    """Message text as Slack shows it (bold, links, mentions, emoji…), as safe HTML."""
    return render_mrkdwn("" if text is None else str(text))


@register.filter
def slack_text(value: object) -> SafeString:
    """A Block Kit text object (``mrkdwn`` or ``plain_text``), or a string, as Slack shows it."""
    if isinstance(value, dict):
        text = str(value.get("text", ""))
        if value.get("type") == "plain_text":
            return render_plain_text(text, emoji=value.get("emoji") is not False)
        return render_mrkdwn(text)
    return render_mrkdwn("" if value is None else str(value))


@register.filter
def safe_url(value: object) -> str:
    """An http(s) or mailto URL for ``href``/``src``, else "" (never ``javascript:``)."""
    return _safe_url(value) if isinstance(value, str) else ""


@register.simple_tag(takes_context=True)
def query_with(
    context: Context,
    # Any: a template's values (a page number, an ordering), kept by QueryDict as given.
    **changes: Any,
) -> str:
    """The current query string with ``changes`` applied (None removes a key), e.g. pages."""
    query = context["request"].GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None and value != "":
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def reverse_ordering(key: str) -> str:
    """The opposite order of an ``ordering`` key: ``name`` ↔ ``-name``, ``-created`` ↔ ``created``."""
    return key[1:] if key.startswith("-") else f"-{key}"


@register.simple_tag(takes_context=True)
def sort_query(context: Context, key: str) -> str:
    """A link that sorts by ``key``, or reverses the order when it already sorts by it."""
    current = context.get("ordering", "")
    value = reverse_ordering(key) if current == key else key
    return query_with(context, ordering=value, page=None)


def _sort_direction(context: Context, key: str) -> str:
    """The direction ("ascending", "descending") the list is sorted by ``key`` in, or ""."""
    current = context.get("ordering", "")
    if current not in (key, reverse_ordering(key)):
        return ""
    directions = context.get("sort_directions") or {}
    return directions.get(current) or ("descending" if current.startswith("-") else "ascending")


@register.simple_tag(takes_context=True)
def sort_arrow(context: Context, key: str) -> str:
    """▴ or ▾ when the list is sorted by ``key`` (ascending or descending), else ""."""
    return {"ascending": "▴", "descending": "▾"}.get(_sort_direction(context, key), "")


@register.simple_tag(takes_context=True)
def sort_header(context: Context, key: str, label: str) -> str:
    """A sortable column header: a link that sorts by ``key``, ``aria-sort`` and an arrow."""
    direction = _sort_direction(context, key)
    return format_html(
        '<th scope="col"{}><a href="{}">{}{}</a></th>',
        format_html(' aria-sort="{}"', direction) if direction else "",
        sort_query(context, key),
        label,
        format_html(' <span aria-hidden="true">{}</span>', sort_arrow(context, key))
        if direction
        else "",
    )
