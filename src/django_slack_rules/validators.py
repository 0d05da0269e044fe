"""Validation of what operators type into a rule: criteria, channel, templates."""

from __future__ import annotations

import json
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .matching.matchers import CriteriaError, MatcherRegexError, MatcherSyntaxError, parse_matcher
from .rendering.templates import template_error

# "#name" (Slack: lower-case letters, digits, '-', '_', '.', at most 80 characters)
# or a conversation id (C…, G… or D… followed by upper-case letters and digits).
CHANNEL_NAME_RE = re.compile(r"^#[a-z0-9][a-z0-9._\-]{0,79}$")
CHANNEL_ID_RE = re.compile(r"^[CGD][A-Z0-9]{8,20}$")
#: The longest channel the patterns above accept ("#" and 80 characters): the max_length of
#: every field that stores one.
CHANNEL_MAX_LENGTH = 81


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


def describe_type(value: object) -> str:
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


def validate_match_criteria(value: object) -> None:
    """Criteria are a JSON object of label → value (equality), or a list of Alertmanager
    matcher strings (``['severity=~"critical|page"', 'team!="db"']``)."""
    if isinstance(value, list):
        validate_matcher_list(value)
        return
    if not isinstance(value, dict):
        raise ValidationError(
            _(
                "Match criteria must be a JSON object of label → value, such as "
                '{"severity": "critical"}, or a list of Alertmanager matchers, such as '
                '["severity=~\\"critical|page\\"", "team!=\\"db\\""], not %(kind)s. '
                "Use {} to match every alert."
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


def matcher_error(exc: CriteriaError, *, line: int | None = None) -> ValidationError:
    """A matcher that does not parse, as a form error: the entry (or line), the matcher's
    text and what is wrong at which position (that part is the parser's, in English)."""
    if isinstance(exc, MatcherSyntaxError):
        quote = "'" if '"' in exc.text else '"'
        params: dict[str, object] = {"text": f"{quote}{exc.text}{quote}", "detail": exc.detail}
        if line is not None:
            message = _("Line %(line)s (%(text)s): %(detail)s")
            params["line"] = line
        else:
            message = _("Matcher %(number)s (%(text)s): %(detail)s")
            params["number"] = (exc.index or 0) + 1
        code = "criteria_regex" if isinstance(exc, MatcherRegexError) else "criteria_matcher"
        return ValidationError(message, code=code, params=params)
    return ValidationError(str(exc), code="criteria_invalid")


def validate_matcher_list(value: list[object]) -> None:
    """Each entry of the list form is one Alertmanager matcher that parses (RE2 regexes)."""
    errors = []
    for index, text in enumerate(value):
        if not isinstance(text, str):
            errors.append(
                ValidationError(
                    _(
                        "Matcher %(number)s must be a string such as %(example)s, "
                        "not %(kind)s (%(item)s)."
                    ),
                    code="criteria_matcher_not_string",
                    params={
                        "number": index + 1,
                        "example": 'severity="critical"',
                        "kind": describe_type(text),
                        "item": json.dumps(text, ensure_ascii=False),
                    },
                )
            )
            continue
        try:
            parse_matcher(text, index=index)
        except CriteriaError as exc:
            errors.append(matcher_error(exc))
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
