"""The example host's project package (SentryHub's is ``sentryHub``)."""

from __future__ import annotations

# Load the Celery app with Django, so shared tasks (the package's) are sent with its settings.
from .celery import app as celery_app

__all__ = ["celery_app"]
