"""Small helpers for the rule pages: badge colours and links that keep the query string."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

_STATE_CLASSES = {
    "sent": "text-bg-success",
    "failed": "text-bg-danger",
    "pending": "text-bg-warning",
    "sending": "text-bg-info",
    "cancelled": "text-bg-secondary",
}


@register.filter
def state_badge(state: Any) -> str:
    """The Bootstrap badge class for a delivery state."""
    return _STATE_CLASSES.get(str(state), "text-bg-light")


@register.simple_tag(takes_context=True)
def query_with(context: dict[str, Any], **changes: Any) -> str:
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
def sort_query(context: dict[str, Any], key: str) -> str:
    """A link that sorts by ``key``, or reverses the order when it already sorts by it."""
    current = context.get("ordering", "")
    value = reverse_ordering(key) if current == key else key
    return query_with(context, ordering=value, page=None)


@register.simple_tag(takes_context=True)
def sort_arrow(context: dict[str, Any], key: str) -> str:
    current = context.get("ordering", "")
    if current == key:
        return "▾"
    if current == reverse_ordering(key):
        return "▴"
    return ""
