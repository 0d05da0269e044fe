"""What keeps every worker in step: the rule set's version, and the paused destinations."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models, router, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RuleSetVersion(models.Model):
    """The one row every match and every delivery reads: the rule set's version, and
    when the latest destination pause ends.

    Each process keeps a compiled index of the active rules and rebuilds it only
    when the version has changed; it changes, in the same transaction, with every
    rule change. A random value (not a counter) so that a rolled-back change can
    never leave a version that a later change reuses. ``pauses_end_at`` is raised
    with every pause (a 429), so one small read tells a worker whether any
    destination may be paused, and it reads the destination's pause only then.
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID)
    version = models.UUIDField(default=uuid.uuid4)
    #: When the latest pause of any destination ends (seconds since the epoch), or None.
    pauses_end_at = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name = _("rule set version")

    def __str__(self) -> str:
        return f"rule set version {self.version}"

    @classmethod
    def read(cls, using: str | None = None) -> tuple[Any, float | None] | None:
        """``(version, pauses_end_at)``, or None when the row is missing (nothing is cached).

        Read on every match and delivery, so it is one plain query without the ORM's
        overhead, on one small table.
        """
        connection = connections[using or DEFAULT_DB_ALIAS]
        quote = connection.ops.quote_name
        meta = cls._meta
        sql = (
            f"SELECT {quote(cls.version.field.column)}, {quote(cls.pauses_end_at.field.column)} "
            f"FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [cls.SINGLETON_ID])
            row = cursor.fetchone()
        return (row[0], row[1]) if row else None

    @classmethod
    def current(cls, using: str | None = None) -> Any:
        """The version (opaque), or None when the row is missing."""
        state = cls.read(using)
        return state[0] if state else None

    @classmethod
    def note_pause(cls, until: float, using: str | None = None) -> None:
        """Raise ``pauses_end_at`` to ``until`` (never lower it)."""
        using = using or router.db_for_write(cls)
        manager = cls.objects.using(using)
        raised = manager.filter(pk=cls.SINGLETON_ID).update(
            pauses_end_at=Greatest(Coalesce(F("pauses_end_at"), Value(until)), Value(until))
        )
        if not raised:
            try:
                with transaction.atomic(using=using):
                    manager.create(pk=cls.SINGLETON_ID, pauses_end_at=until)
            except IntegrityError:
                manager.filter(pk=cls.SINGLETON_ID).update(
                    pauses_end_at=Greatest(Coalesce(F("pauses_end_at"), Value(until)), Value(until))
                )

    @classmethod
    def bump(cls, using: str | None = None) -> None:
        using = using or router.db_for_write(cls)
        manager = cls.objects.using(using)
        if manager.filter(pk=cls.SINGLETON_ID).update(version=uuid.uuid4()):
            return
        try:
            with transaction.atomic(using=using):
                manager.create(pk=cls.SINGLETON_ID)
        except IntegrityError:
            manager.filter(pk=cls.SINGLETON_ID).update(version=uuid.uuid4())


class DestinationPause(models.Model):
    """A destination (channel) that Slack rate-limited: no worker sends there until ``paused_until``."""

    destination = models.CharField(_("destination"), max_length=255, unique=True)
    paused_until = models.DateTimeField(_("paused until"))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("rate-limited destination")
        verbose_name_plural = _("rate-limited destinations")

    def __str__(self) -> str:
        return f"{self.destination} paused until {self.paused_until:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def pause(cls, destination: str, seconds: float) -> None:
        """Pause ``destination`` for ``seconds`` (never shortens an existing pause)."""
        until = timezone.now() + datetime.timedelta(seconds=seconds)
        with transaction.atomic():
            pause, created = cls.objects.select_for_update().get_or_create(
                destination=destination, defaults={"paused_until": until}
            )
            if not created and pause.paused_until < until:
                pause.paused_until = until
                pause.save(update_fields=["paused_until", "updated_at"])
            RuleSetVersion.note_pause(until.timestamp())

    @classmethod
    def remaining(cls, destination: str) -> float:
        """Seconds until ``destination`` may be sent to again (0 when it is not paused)."""
        until = (
            cls.objects.filter(destination=destination, paused_until__gt=timezone.now())
            .values_list("paused_until", flat=True)
            .first()
        )
        return max(0.0, (until - timezone.now()).total_seconds()) if until else 0.0
