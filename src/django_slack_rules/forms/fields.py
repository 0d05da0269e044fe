"""Form fields of the rule pages: JSON objects and criteria typed as text, with errors that say where."""

from __future__ import annotations

import json
from typing import Any

from crispy_forms.helper import FormHelper  # type: ignore[import-untyped]
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..matching.criteria_text import CriteriaTextError, criteria_from_text, criteria_to_text
from ..validators import describe_type, matcher_error

#: The template pack the package's forms are written for (set on each helper, so a host
#: using another pack for its own forms needs no setting; crispy_bootstrap5 must be installed).
TEMPLATE_PACK = "bootstrap5"


def form_helper() -> FormHelper:
    """A crispy-forms helper for one of the package's forms: its fields in
    :data:`TEMPLATE_PACK`, without a ``<form>`` tag (the page's template has it)."""
    helper = FormHelper()
    helper.template_pack = TEMPLATE_PACK
    helper.form_tag = False
    return helper


_EXCERPT_RADIUS = 15


def describe_json_error(text: str, exc: json.JSONDecodeError) -> str:
    """Say where ``text`` stops being JSON: line, column, the problem and the text around it."""
    start = max(0, exc.pos - _EXCERPT_RADIUS)
    before = text[start : exc.pos].replace("\n", " ")
    after = text[exc.pos : exc.pos + _EXCERPT_RADIUS].replace("\n", " ")
    excerpt = f"{'…' if start else ''}{before}⟶{after}{'…' if exc.pos + _EXCERPT_RADIUS < len(text) else ''}"
    # exc.msg is the json module's own (English) wording; the sentence around it is translated.
    message = gettext(
        "This is not valid JSON: %(problem)s at line %(line)s, column %(column)s "
        "(marked ⟶): “%(excerpt)s”"
    ) % {"problem": exc.msg, "line": exc.lineno, "column": exc.colno, "excerpt": excerpt}
    if "'" in text and "double quotes" in exc.msg:
        message += ". " + gettext("JSON strings and keys take double quotes: \"key\", not 'key'.")
    return message


class JSONObjectField(forms.JSONField):
    """A JSON object typed as text, with errors that say where the JSON breaks."""

    widget = forms.Textarea

    # Any: forms.JSONField's own arguments (label, required, widget...), passed on as they are.
    def __init__(self, *, what: object = None, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "class": "font-monospace"}))
        super().__init__(**kwargs)
        #: What the field holds, for its errors ("Labels must be a JSON object…"); may be lazy.
        self.what = what or self.label or _("This")

    # Any: the parsed JSON value (the stubs give JSONField CharField's str).
    def to_python(self, value: object) -> Any:
        if isinstance(value, str) and value.strip():
            try:
                json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValidationError(describe_json_error(value, exc), code="invalid") from exc
        return super().to_python(value)

    def validate(self, value: object) -> None:
        super().validate(value)
        if value is not None and not isinstance(value, dict):
            raise ValidationError(
                _("%(what)s must be a JSON object such as %(example)s, not %(kind)s."),
                code="not_object",
                params={
                    "what": self.what,
                    "example": '{"severity": "critical"}',
                    "kind": describe_type(value),
                },
            )

    def prepare_value(self, value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, dict) and value:
            return json.dumps(value, ensure_ascii=False, indent=2)
        return super().prepare_value(value)


class CriteriaField(forms.Field):
    """A rule's criteria typed as text: a JSON object or list, or Alertmanager matchers one a
    line (:mod:`django_slack_rules.matching.criteria_text`). Errors say where the text breaks."""

    widget = forms.Textarea
    #: Only no text is empty: {} and [] are criteria (they match every alert).
    empty_values = [None, ""]

    def to_python(self, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return criteria_from_text(value)
        except CriteriaTextError as exc:
            if exc.json_error is not None:
                message = describe_json_error(value.strip(), exc.json_error)
                raise ValidationError(message, code="invalid") from exc
            error = exc.matcher_error
            raise (
                matcher_error(error, line=exc.line) if error else ValidationError(str(exc))
            ) from exc

    def prepare_value(self, value: object) -> object:
        return value if isinstance(value, str) else criteria_to_text(value)

    def has_changed(self, initial: object, data: object) -> bool:
        try:
            return bool(self.to_python(data) != initial)
        except ValidationError:
            return True
