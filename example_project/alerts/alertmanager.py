"""Reading Alertmanager's webhook body (version 4), with errors that say what is wrong.

https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
Pure: no database, so it is easy to test and to reuse.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.utils.dateparse import parse_datetime

STATUSES = ("firing", "resolved")


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook payload; the message names the problem."""


@dataclass(frozen=True)
class Alert:
    status: str
    labels: dict[str, str]
    starts_at: datetime.datetime
    ends_at: datetime.datetime | None
    fingerprint: str
    annotations: dict[str, str] = field(default_factory=dict)
    generator_url: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname") or self.fingerprint


def parse_body(body: bytes) -> list[Alert]:
    """The alerts of a webhook body; raise :class:`PayloadError` naming what is wrong."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"The body is not valid JSON: {exc}.") from None
    except RecursionError:
        raise PayloadError(
            "The body is not an Alertmanager webhook: it is nested too deeply."
        ) from None
    return parse_payload(payload)


def parse_payload(payload: Any) -> list[Alert]:
    if not isinstance(payload, dict):
        raise PayloadError(
            f"The body must be a JSON object with an 'alerts' list, not {_kind(payload)}."
        )
    if "alerts" not in payload:
        raise PayloadError("The body has no 'alerts' list (is this an Alertmanager webhook?).")
    alerts = payload["alerts"]
    if not isinstance(alerts, list):
        raise PayloadError(f"'alerts' must be a list, not {_kind(alerts)}.")
    return [parse_alert(item, f"alerts[{index}]") for index, item in enumerate(alerts)]


def parse_alert(item: Any, where: str) -> Alert:
    if not isinstance(item, dict):
        raise PayloadError(f"{where} must be an object, not {_kind(item)}.")
    labels = _string_map(item, "labels", where, required=True)
    annotations = _string_map(item, "annotations", where, required=False)
    status = item.get("status")
    if status not in STATUSES:
        raise PayloadError(f"{where}.status must be 'firing' or 'resolved', not {status!r}.")
    starts_at = _time(item, "startsAt", where, required=True)
    assert starts_at is not None
    ends_at = _time(item, "endsAt", where, required=False)
    fingerprint = item.get("fingerprint")
    if fingerprint is None or fingerprint == "":
        fingerprint = fingerprint_of(labels)
    elif not isinstance(fingerprint, str):
        raise PayloadError(f"{where}.fingerprint must be a string, not {_kind(fingerprint)}.")
    generator_url = item.get("generatorURL") or ""
    if not isinstance(generator_url, str):
        raise PayloadError(f"{where}.generatorURL must be a string, not {_kind(generator_url)}.")
    return Alert(
        status=status,
        labels=labels,
        starts_at=starts_at,
        ends_at=ends_at,
        fingerprint=fingerprint[:100],
        annotations=annotations,
        generator_url=generator_url[:500],
    )


def fingerprint_of(labels: dict[str, str]) -> str:
    """A stable fingerprint from the labels, for senders that do not send one."""
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _string_map(item: dict[str, Any], key: str, where: str, *, required: bool) -> dict[str, str]:
    if key not in item or item[key] is None:
        if required:
            raise PayloadError(f"{where}.{key} is missing: an object of name → string value.")
        return {}
    value = item[key]
    if not isinstance(value, dict):
        raise PayloadError(f"{where}.{key} must be an object, not {_kind(value)}.")
    for name, text in value.items():
        if not isinstance(text, str):
            raise PayloadError(f"{where}.{key}.{name} must be a string, not {_kind(text)}.")
    return dict(value)


def _time(
    item: dict[str, Any], key: str, where: str, *, required: bool
) -> datetime.datetime | None:
    value = item.get(key)
    if value in (None, ""):
        if required:
            raise PayloadError(f"{where}.{key} is missing: an RFC 3339 time.")
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed, but not a real time (February 30th, 25 o'clock)
        parsed = None
    if parsed is None:
        raise PayloadError(f"{where}.{key} must be an RFC 3339 time, not {value!r}.")
    if parsed.year <= 1:  # Alertmanager's zero time "0001-01-01T00:00:00Z": not ended
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
