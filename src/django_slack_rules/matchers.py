"""The Alertmanager matcher language, under the name docs/alertmanager.md gives it.

It lives in :mod:`django_slack_rules.matching.matchers`; this module only re-exports it.
"""

from __future__ import annotations

from .matching.matchers import *  # noqa: F403 - its public names, nothing of our own
from .matching.matchers import __all__ as __all__
