"""Validation of what operators type into a rule: criteria, channel, templates."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .rendering import template_error

# "#name" (Slack: lower-case letters, digits, '-', '_', '.', at most 80 characters)
# or a conversation id (C…, G… or D… followed by upper-case letters and digits).
CHANNEL_NAME_RE = re.compile(r"^#[a-z0-9][a-z0-9._\-]{0,79}$")
CHANNEL_ID_RE = re.compile(r"^[CGD][A-Z0-9]{8,}$")


def is_valid_channel(value: str) -> bool:
    return bool(CHANNEL_NAME_RE.match(value) or CHANNEL_ID_RE.match(value))


def validate_channel(value: str) -> None:
    """Accept ``#name``, a channel id such as ``C0123ABCDEF``, or blank."""
    if value and not is_valid_channel(value):
        raise ValidationError(
            _(
                "%(value)r is not a Slack channel. Use '#name' (lower-case letters, digits, "
                "'-', '_' or '.'), a channel id such as 'C0123ABCDEF', or leave it blank to use "
                "the alert's 'channel' label, else the default channel."
            ),
            code="invalid_channel",
            params={"value": value},
        )


def describe_type(value: Any) -> str:
    """What a JSON value is, for an error message: "a number", "a list", "null"…"""
    if isinstance(value, str):  # also forms.JSONField's JSONString
        return gettext("a string")
    names = {
        bool: gettext("a boolean"),
        int: gettext("a number"),
        float: gettext("a number"),
        list: gettext("a list"),
        dict: gettext("an object"),
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def validate_match_criteria(value: Any) -> None:
    """Criteria must be a JSON object of non-empty string label names to string values."""
    if not isinstance(value, dict):
        raise ValidationError(
            _(
                "Match criteria must be a JSON object of label → value, such as "
                '{"severity": "critical"}, not %(kind)s. Use {} to match every alert.'
            ),
            code="criteria_not_object",
            params={"kind": describe_type(value)},
        )
    errors = []
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            errors.append(
                ValidationError(
                    _("Match criteria keys must be non-empty label names; got %(key)r."),
                    code="criteria_empty_key",
                    params={"key": key},
                )
            )
        elif not isinstance(item, str):
            errors.append(
                ValidationError(
                    _(
                        "Label %(key)r: the value must be a string, got %(kind)s (%(item)s). "
                        'Quote it: {"%(key)s": "%(item)s"}.'
                    ),
                    code="criteria_value_not_string",
                    params={"key": key, "kind": describe_type(item), "item": item},
                )
            )
    if errors:
        raise ValidationError(errors)


def validate_template(value: str) -> None:
    """A rule template must compile in the Django Template Language."""
    if not value:
        return
    problem = template_error(value)
    if problem:
        raise ValidationError(
            _("The template does not compile: %(problem)s"),
            code="template_syntax",
            params={"problem": problem},
        )
