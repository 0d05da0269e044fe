"""W010: the periodic recovery task is not scheduled, so nothing would queue again what the
broker lost or a dead worker left (docs/operations.md, "Recovery")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import DatabaseError, transaction
from django.utils.translation import gettext

from ..conf import slack_rules_settings
from .common import AppConfigs, Databases, check_message

RECOVERY_TASK = "django_slack_rules.tasks.recover_stranded"


def check_recovery_scheduled(
    app_configs: AppConfigs = None, databases: Databases = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """W010, when the package is wired to the host's signal and the recovery task is in no
    celery beat schedule: ``CELERY_BEAT_SCHEDULE``, the Celery app's ``beat_schedule``, or
    (django-celery-beat) an enabled periodic task, looked for when a database is given
    (``check --database default``, ``migrate``)."""
    if slack_rules_settings.SIGNAL is None or _in_a_schedule_in_settings():
        return []
    if apps.is_installed("django_celery_beat"):
        if not databases:
            return []  # the periodic tasks are in the database: said when it is checked
        if _in_django_celery_beat(databases):
            return []
    return [
        check_message(
            "W010",
            gettext(
                "The recovery task %(task)s is not scheduled: deliveries recorded while the "
                "Celery broker was down, or left by a worker that died, are not sent until "
                "someone runs manage.py slack_rules_requeue."
            )
            % {"task": RECOVERY_TASK},
            gettext(
                "Run it every minute with celery beat: add it to CELERY_BEAT_SCHEDULE, or as a "
                "django-celery-beat periodic task (docs/operations.md, Recovery)."
            ),
        )
    ]


def _in_a_schedule_in_settings() -> bool:
    schedules = [getattr(settings, "CELERY_BEAT_SCHEDULE", None)]
    try:
        from celery import current_app

        schedules.append(current_app.conf.beat_schedule)
    except Exception:  # no Celery app configured: the settings are all there is
        pass
    return any(
        isinstance(entry, Mapping) and entry.get("task") == RECOVERY_TASK
        for schedule in schedules
        if isinstance(schedule, Mapping)
        for entry in schedule.values()
    )


def _in_django_celery_beat(databases: Sequence[str]) -> bool:
    periodic_task = "django_celery_beat.PeriodicTask"  # a host's app, not ours: not typed
    model = apps.get_model(periodic_task)
    for alias in databases:
        try:
            with transaction.atomic(using=alias):
                found = model._default_manager.using(alias).filter(task=RECOVERY_TASK, enabled=True)
                if found.exists():
                    return True
        except DatabaseError:
            return True  # not migrated yet: nothing to say
    return False
