"""What every check shares: the id format, and building a message from a code."""

from __future__ import annotations

from django.core import checks

ID = "django_slack_rules.{}"


def error(code: str, msg: str, hint: str) -> checks.CheckMessage:
    cls = checks.Warning if code.startswith("W") else checks.Error
    return cls(msg, hint=hint, id=ID.format(code))
