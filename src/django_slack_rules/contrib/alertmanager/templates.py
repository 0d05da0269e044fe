"""Alertmanager's Go templates (a Slack receiver's ``title`` and ``text``) as rule templates.

Only what has one meaning in a per-alert message is converted; anything else raises
:class:`UnsupportedTemplate` naming the action, so the import reports it instead of
guessing. Converted:

| Go template (Alertmanager) | Django template (the rule) |
| --- | --- |
| ``{{ .Status }}`` | ``{{ status }}`` |
| ``{{ .CommonLabels.x }}``, ``{{ .GroupLabels.x }}``, ``{{ index .CommonLabels "x" }}`` | ``{{ labels.x }}`` |
| ``{{ .CommonAnnotations.x }}`` | ``{{ annotations.x }}`` |
| ``{{ range .Alerts }}…{{ end }}`` | the body once (the package sends one message per alert) |
| inside it: ``.Labels.x``, ``.Annotations.x``, ``.Status``, ``.StartsAt``, ``.EndsAt``, ``.Fingerprint`` | ``labels.x``, ``annotations.x``, ``status``, ``started_at``, ``ended_at``, ``fingerprint`` |
| ``{{ .Receiver }}`` | the receiver's name, as text |
| ``| toUpper``, ``| toLower``, ``| title`` | ``|upper``, ``|lower``, ``|title`` |
| ``{{ if X }}``, ``{{ if eq X "v" }}``, ``{{ if ne X "v" }}``, ``{{ else }}``, ``{{ else if … }}``, ``{{ end }}`` | ``{% if %}`` … ``{% endif %}`` |
| ``{{/* comment */}}``, ``{{-`` and ``-}}`` trimming | dropped, applied |
| ``{{ template "slack.default.title" . }}`` | ``[{{ status|upper }}] {{ alertname }}`` (the default title, per alert) |
| ``{{ template "slack.default.text" . }}`` and the other empty defaults | nothing |
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .go_syntax import UnsupportedTemplate, split_words, string_literal, tokens

#: What a rule gets when its Alertmanager template cannot be converted.
DEFAULT_TITLE = "[{{ status|upper }}] {{ alertname }}"
DEFAULT_MESSAGE = "[{{ status|upper }}] *{{ alertname }}*{% if summary %} {{ summary }}{% endif %}"

# Alertmanager's default Slack templates (notify/slack + template/default.tmpl).
DEFAULT_GO_TITLE = '{{ template "slack.default.title" . }}'
_EMPTY_DEFAULTS = frozenset(
    {
        "slack.default.text",
        "slack.default.pretext",
        "slack.default.fallback",
        "slack.default.footer",
        "slack.default.titlelink",
        "slack.default.callbackid",
        "slack.default.iconemoji",
        "slack.default.iconurl",
    }
)

_FILTERS = {"toUpper": "upper", "toLower": "lower", "title": "title"}
_DJANGO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")
_GO_FIELD = re.compile(r"(\$?)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_TEMPLATE_TAGS = {
    "{{": "openvariable",
    "}}": "closevariable",
    "{%": "openblock",
    "%}": "closeblock",
    "{#": "opencomment",
    "#}": "closecomment",
}
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")

#: Marks what an expression gives that is text, not a variable (``.Receiver``).
_TEXT = "\x00"
#: :meth:`_Converter.field`'s answer for ``.Receiver``: the receiver's name, as text.
_RECEIVER = _TEXT + "receiver"


@dataclass
class Conversion:
    """A converted template and what the operator should know about it."""

    template: str
    notes: list[str] = field(default_factory=list)


def escape_text(text: str) -> str:
    """Literal text for a Django template: template syntax shown as itself."""
    return _TEMPLATE_SYNTAX.sub(
        lambda m: "{% templatetag " + _TEMPLATE_TAGS[m.group()] + " %}", text
    )


class _Converter:
    def __init__(self, receiver: str) -> None:
        self.receiver = receiver
        self.blocks: list[str] = []  # "if" or "range", innermost last
        self.notes: list[str] = []

    @property
    def in_range(self) -> bool:
        return "range" in self.blocks

    def field(self, word: str, action: str) -> str:
        """A Go field reference as a Django variable (or literal text for .Receiver)."""
        found = _GO_FIELD.fullmatch(word)
        if not found:
            raise UnsupportedTemplate(f"{{{{ {action} }}}}")
        root = found.group(1) == "$"
        parts = found.group(2)[1:].split(".")
        per_alert = self.in_range and not root
        head, rest = parts[0], parts[1:]
        if per_alert:
            simple = {
                "Status": "status",
                "StartsAt": "started_at",
                "EndsAt": "ended_at",
                "Fingerprint": "fingerprint",
            }
            maps = {"Labels": "labels", "Annotations": "annotations"}
        else:
            simple = {"Status": "status"}
            maps = {
                "CommonLabels": "labels",
                "GroupLabels": "labels",
                "CommonAnnotations": "annotations",
            }
        if head in simple and not rest:
            return simple[head]
        if head in maps and len(rest) == 1:
            return f"{maps[head]}.{self.label_name(rest[0], action)}"
        if head == "Receiver" and not rest and not per_alert:
            return _RECEIVER
        raise UnsupportedTemplate(f"{{{{ {action} }}}}")

    def label_name(self, name: str, action: str) -> str:
        if not _DJANGO_NAME.fullmatch(name):
            raise UnsupportedTemplate(
                f"{{{{ {action} }}}}: the label {name!r} cannot be written in a Django template "
                "(names starting with _ or holding other characters); use "
                "{% for name, value in labels.items %}"
            )
        return name

    def expression(self, words: list[str], action: str) -> str:
        """``FIELD``, ``index MAP "key"``, optionally piped through filters."""
        pipeline: list[list[str]] = [[]]
        for word in words:
            if word == "|":
                pipeline.append([])
            else:
                pipeline[-1].append(word)
        first = pipeline[0]
        if len(first) == 1:
            variable = self.field(first[0], action)
        elif len(first) == 3 and first[0] == "index":
            mapping = self.field(first[1] + ".x", action).rsplit(".", 1)[0]
            variable = f"{mapping}.{self.label_name(string_literal(first[2], action), action)}"
        else:
            raise UnsupportedTemplate(f"{{{{ {action} }}}}")
        filters = []
        for stage in pipeline[1:]:
            if len(stage) != 1 or stage[0] not in _FILTERS:
                raise UnsupportedTemplate(f"{{{{ {action} }}}}")
            filters.append(_FILTERS[stage[0]])
        if variable == _RECEIVER:
            text = self.receiver
            for name in filters:
                text = {"upper": text.upper, "lower": text.lower, "title": text.title}[name]()
            return _TEXT + escape_text(text)
        return variable + "".join(f"|{name}" for name in filters)

    def condition(self, words: list[str], action: str) -> str:
        if len(words) == 3 and words[0] in ("eq", "ne"):
            variable = self.expression([words[1]], action)
            if variable.startswith(_TEXT):
                raise UnsupportedTemplate(f"{{{{ {action} }}}}")
            value = string_literal(words[2], action)
            return f'{variable} {"==" if words[0] == "eq" else "!="} "{value}"'
        if words and words[0] == "not":
            return f"not {self.condition(words[1:], action)}"
        variable = self.expression(words, action)
        if variable.startswith(_TEXT):
            raise UnsupportedTemplate(f"{{{{ {action} }}}}")
        return variable

    def action(self, action: str) -> str:
        if action.startswith("/*") and action.endswith("*/"):
            return ""
        words = split_words(action)
        if not words:
            raise UnsupportedTemplate("{{ }}")
        keyword = words[0]
        if keyword == "if":
            self.blocks.append("if")
            return f"{{% if {self.condition(words[1:], action)} %}}"
        if keyword == "else" and len(words) > 2 and words[1] == "if":
            if not self.blocks or self.blocks[-1] != "if":
                raise UnsupportedTemplate(f"{{{{ {action} }}}} outside an if")
            return f"{{% elif {self.condition(words[2:], action)} %}}"
        if keyword == "else" and len(words) == 1:
            if not self.blocks or self.blocks[-1] != "if":
                raise UnsupportedTemplate(f"{{{{ {action} }}}} outside an if")
            return "{% else %}"
        if keyword == "end" and len(words) == 1:
            if not self.blocks:
                raise UnsupportedTemplate("{{ end }} without a block")
            block = self.blocks.pop()
            return "{% endif %}" if block == "if" else ""
        if keyword == "range":
            if words[1:] == [".Alerts"] and not self.in_range:
                self.blocks.append("range")
                note = (
                    "{{ range .Alerts }} became its body once: the package sends one "
                    "message per alert"
                )
                if note not in self.notes:
                    self.notes.append(note)
                return ""
            raise UnsupportedTemplate(f"{{{{ {action} }}}}")
        if keyword == "template" and len(words) == 3 and words[2] in (".", "$"):
            name = string_literal(words[1], action)
            if name == "slack.default.title":
                self.notes.append(
                    "Alertmanager's default title became " + DEFAULT_TITLE + " (one alert per "
                    "message, so no alert count or group labels)"
                )
                return DEFAULT_TITLE
            if name in _EMPTY_DEFAULTS:
                return ""
            raise UnsupportedTemplate(
                f"{{{{ {action} }}}}: named templates from template files are not read"
            )
        assigns = len(words) > 1 and words[1] in (":=", "=")
        if keyword in ("with", "define", "block", "break", "continue") or assigns:
            raise UnsupportedTemplate(f"{{{{ {action} }}}}")
        expression = self.expression(words, action)
        if expression.startswith(_TEXT):
            return expression[1:]
        return f"{{{{ {expression} }}}}"


def convert(source: str, *, receiver: str = "") -> Conversion:
    """``source`` (a Go template) as a Django template; raises :class:`UnsupportedTemplate`."""
    converter = _Converter(receiver)
    out = []
    for kind, piece in tokens(source):
        out.append(escape_text(piece) if kind == "text" else converter.action(piece))
    if converter.blocks:
        raise UnsupportedTemplate(f"{{{{ {converter.blocks[-1]} }}}} without {{{{ end }}}}")
    return Conversion("".join(out), converter.notes)
