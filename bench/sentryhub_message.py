"""How SentryHub's Slack task builds a message (``sentryhub_baseline``): its template
context, the template rendered on Django's default engine, IP addresses masked, the channel
resolved."""

# SentryHub formats its log messages with f-strings, and logs errors with exc_info=True.
# ruff: noqa: G004, G201

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any

from django.conf import settings
from django.template import Context, Template, TemplateSyntaxError

logger = logging.getLogger("sentryhub_baseline")
DEFAULT_CHANNEL = "#general"


def template_context(alert_group: Any) -> dict[str, Any]:
    """The model instances, the latest occurrence's annotations, its summary, description."""
    latest = alert_group.instances.order_by("-started_at").first()
    annotations = latest.annotations if latest else {}
    return {
        "alert_group": alert_group,
        "latest_instance": latest,
        "annotations": annotations,
        "summary": annotations.get("summary", alert_group.name),
        "description": annotations.get("description", "No description provided."),
    }


def render_template_safe(text: str, context: dict[str, Any], default: str = "") -> str:
    """The template rendered (a new ``Template`` each time), stripped; ``default`` when
    there is no template or it fails."""
    if not text:
        return default
    try:
        return Template(text).render(Context(context)).strip()
    except TemplateSyntaxError as exc:
        logger.warning(f"Template syntax error: {exc}; using the default.", exc_info=True)
    except Exception as exc:
        logger.error(f"Template failed to render: {exc}; using the default.", exc_info=True)
    return default


#: Candidates: a dotted quad, or a run of hex digits and colons (optionally in brackets),
#: with an optional port. Only candidates that parse as an IP address are masked.
_ADDRESS = re.compile(r"\b(?:\d{1,3}(?:\.\d{1,3}){3}|\[?[0-9A-Fa-f:]+\]?)(?::\d{1,5})?\b")


def _mask(match: re.Match[str]) -> str:
    candidate = address = match.group(0)
    if candidate.startswith("[") and "]" in candidate:
        address = candidate[1 : candidate.index("]")]
    elif "." in candidate:
        address = candidate.partition(":")[0]
    elif candidate.count(":") > 1 and candidate.rpartition(":")[2].isdigit():
        address = candidate.rpartition(":")[0]
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return candidate
    return "IP"


def mask_ip_addresses(message: str) -> str:
    """``message`` with every IPv4 or IPv6 address, and the port after it, replaced by IP."""
    if not message:
        return message
    masked, count = _ADDRESS.subn(_mask, message)
    if count:
        logger.debug(f"mask_ip_addresses: {count} candidate(s) looked at.")
    return masked


def resolve_channel(alert_group: Any, rule: Any) -> tuple[str, str]:
    """(channel, where it came from): the rule's, the ``channel`` label's, or the default."""
    fp = alert_group.fingerprint
    if rule is not None and getattr(rule, "slack_channel", None):
        logger.info(f"(FP: {fp}) Channel from rule {rule.name!r}: {rule.slack_channel!r}")
        return rule.slack_channel, "rule"
    label = str((getattr(alert_group, "labels", None) or {}).get("channel") or "").strip()
    label = label[1:].strip() if label[:1] in ("#", "@") else label
    if label:
        logger.info(f"(FP: {fp}) Channel from the alert's label: {label!r}")
        return label, "label"
    default = getattr(settings, "SLACK_DEFAULT_CHANNEL", DEFAULT_CHANNEL) or DEFAULT_CHANNEL
    logger.info(f"(FP: {fp}) Default channel: {default!r}")
    return default, "default"


def normalize_channel(channel: str) -> str:
    """``#name`` for a bare name; ids (C…, G…, U…, D…) and ``#names`` stay as they are."""
    channel = (channel or "").strip()
    if not channel or channel.startswith("#") or channel[0] in "CGUD":
        return channel
    return f"#{channel}"
