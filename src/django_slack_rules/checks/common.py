"""What every check shares: the id format, and the message for a code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from django.apps import AppConfig
from django.core import checks

ID = "django_slack_rules.{}"

#: What Django passes a check: the apps to check (None: all) and the database aliases it may
#: query (None: none). Written with ``Optional`` since Python 3.9 evaluates aliases.
AppConfigs = Optional[Sequence[AppConfig]]
Databases = Optional[Sequence[str]]


def check_message(code: str, msg: str, hint: str) -> checks.CheckMessage:
    """The message for ``code``: a :class:`~django.core.checks.Warning` for "W…", else an
    :class:`~django.core.checks.Error`, with the package's id."""
    cls = checks.Warning if code.startswith("W") else checks.Error
    return cls(msg, hint=hint, id=ID.format(code))
