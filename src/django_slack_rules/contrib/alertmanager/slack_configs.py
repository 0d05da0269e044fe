"""A receiver's ``slack_configs`` as what its rules send: the channel, checked as the rule
form checks it, and the message template converted from the Go ``title`` and ``text``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TypedDict

from .config import AlertmanagerConfigError, _bool, _string
from .go_syntax import UnsupportedTemplate
from .result import NOT_IMPORTED, NOTE, ReportLine
from .templates import DEFAULT_GO_TITLE, DEFAULT_MESSAGE, convert

# validators.CHANNEL_NAME_RE / CHANNEL_ID_RE (this module imports nothing of Django).
_CHANNEL_NAME = re.compile(r"^#[a-z0-9][a-z0-9._\-]{0,79}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{8,}$")
_SLACK_KEYS_CONVERTED = frozenset(
    {"channel", "send_resolved", "title", "text", "api_url", "api_url_file", "http_config"}
)


class SlackSpec(TypedDict):
    """What one of a receiver's ``slack_configs`` becomes (the rule's part of it)."""

    channel: str
    message: str
    resolved: str
    go_source: str
    #: Its place in the receiver's ``slack_configs``.
    index: int


def _channel(config: Mapping[str, object], where: str, report: list[ReportLine]) -> str:
    channel = _string(config.get("channel"), f"{where}.channel").strip()
    if not channel:
        report.append(
            ReportLine(
                NOTE,
                where,
                "no channel: Alertmanager posts to the webhook's own channel; the rule's "
                "channel is left blank (the alert's 'channel' label, else DEFAULT_CHANNEL) — "
                "set it to that webhook's channel",
            )
        )
        return ""
    if "{{" in channel:
        report.append(
            ReportLine(
                NOT_IMPORTED,
                where,
                f"the channel {channel!r} is a template; the rule's channel is left blank (the "
                "alert's 'channel' label, else DEFAULT_CHANNEL)",
            )
        )
        return ""
    if _CHANNEL_NAME.match(channel) or _CHANNEL_ID.match(channel):
        return channel
    if _CHANNEL_NAME.match(f"#{channel}"):
        return f"#{channel}"
    report.append(
        ReportLine(
            NOT_IMPORTED,
            where,
            f"the channel {channel!r} is not a '#name' or a channel id the rules accept; the "
            "rule's channel is left blank — set it by hand",
        )
    )
    return ""


def _message(
    config: Mapping[str, object], receiver: str, where: str, report: list[ReportLine]
) -> tuple[str, str]:
    """The rule's message template and, for the description, the Go source."""
    title = config.get("title")
    text = config.get("text")
    title_source = DEFAULT_GO_TITLE if title is None else _string(title, f"{where}.title")
    text_source = "" if text is None else _string(text, f"{where}.text")
    go_source = "\n".join(
        f"{key}: {value}"
        for key, value in (("title", title_source), ("text", text_source))
        if value
    )
    parts = []
    notes: list[str] = []
    for key, source in (("title", title_source), ("text", text_source)):
        try:
            converted = convert(source, receiver=receiver)
        except UnsupportedTemplate as exc:
            report.append(
                ReportLine(
                    NOT_IMPORTED,
                    where,
                    f"the {key} template is not converted ({exc}); the rule gets the default "
                    f"message {DEFAULT_MESSAGE!r} and keeps the Go template in its description: "
                    "rewrite it in the Django template language (docs/templates.md)",
                )
            )
            return DEFAULT_MESSAGE, go_source
        notes += [n for n in converted.notes if n not in notes]
        if converted.template.strip():
            parts.append(
                f"*{converted.template.strip()}*" if key == "title" else converted.template
            )
    report.extend(ReportLine(NOTE, f"receiver {receiver!r}", note) for note in notes)
    return ("\n".join(parts) if parts else DEFAULT_MESSAGE), go_source


def _slack_rules_for(
    receiver: str, configs: Sequence[object], report: list[ReportLine]
) -> list[SlackSpec]:
    """What each Slack config of a receiver becomes: channel and templates."""
    specs: list[SlackSpec] = []
    for i, raw in enumerate(configs):
        where = f"receiver {receiver!r} slack_configs[{i}]"
        if not isinstance(raw, Mapping):
            raise AlertmanagerConfigError(f"{where} must be a mapping")
        channel = _channel(raw, where, report)
        message, go_source = _message(raw, receiver, where, report)
        send_resolved = _bool(raw.get("send_resolved"), f"{where}.send_resolved")
        other = sorted(set(raw) - _SLACK_KEYS_CONVERTED)
        if other:
            report.append(
                ReportLine(
                    NOT_IMPORTED,
                    where,
                    f"{', '.join(other)} not imported: the rule sends one text message",
                )
            )
        specs.append(
            {
                "channel": channel,
                "message": message,
                "resolved": message if send_resolved else "",
                "go_source": go_source,
                "index": i,
            }
        )
    return specs
