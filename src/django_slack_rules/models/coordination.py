"""What keeps every worker in step: the rule set's version, the paused destinations, and
each destination's pace."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models, router, transaction
from django.db.models import F, Q, Value
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
    #: The latest 429 (every one, even when it did not lengthen the pause).
    updated_at = models.DateTimeField(_("last 429"), auto_now=True)

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
            if not created:
                pause.paused_until = max(pause.paused_until, until)
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


class DestinationPace(models.Model):
    """A destination's pace, shared by every worker: a token bucket, and its drain.

    The bucket is GCRA: ``tat`` (the theoretical arrival time, seconds since the epoch)
    moves by one interval (1/rate) per message, and a message may go while ``tat`` is at
    most the tolerance ((burst - 1) intervals) ahead of now. Taking a slot is one UPDATE
    whose WHERE clause is the test, so it is atomic on every database: PostgreSQL and
    InnoDB re-check the condition on the row they lock, SQLite writes one at a time.

    While deliveries wait for the destination, one drain task sends them, one per slot:
    ``drain_at`` is when it is due (while it runs, when its lease ends) and ``drain_token``
    which task it is. Rate and burst are arguments: models read no settings.
    """

    destination = models.CharField(_("destination"), max_length=255)
    tat = models.FloatField(_("theoretical arrival time"), default=0.0)
    drain_at = models.FloatField(_("drain due at"), null=True, blank=True)
    drain_token = models.BigIntegerField(_("drain token"), null=True, blank=True)

    class Meta:
        verbose_name = _("paced destination")
        verbose_name_plural = _("paced destinations")
        # A constraint, not unique=True: no second "_like" index on PostgreSQL.
        constraints = [
            models.UniqueConstraint(fields=["destination"], name="dsr_pace_destination_unique")
        ]

    def __str__(self) -> str:
        return f"{self.destination} paced (tat {self.tat:.3f})"

    @classmethod
    def take(
        cls,
        destination: str,
        *,
        interval: float,
        tolerance: float,
        now: float,
        drain_token: int | None = None,
    ) -> bool:
        """Take the destination's slot at ``now`` in one UPDATE; False when there is none
        (or no row yet). Without ``drain_token`` there is none while a drain is due: the
        deliveries waiting go first. The drain holding ``drain_token`` ignores that."""
        ready = cls.objects.filter(destination=destination, tat__lte=now + tolerance)
        if drain_token is None:
            ready = ready.filter(drain_at__isnull=True)
        else:
            ready = ready.filter(drain_token=drain_token)
        return bool(ready.update(tat=Greatest(F("tat"), Value(now)) + Value(interval)))

    @classmethod
    def slot_sql(
        cls, destination: str, *, interval: float, tolerance: float, now: float, using: str
    ) -> tuple[str, tuple[Any, ...]]:
        """:meth:`take`'s UPDATE (without a drain token) in PostgreSQL's SQL, for a statement
        that does more (``models.claiming``), which may add conditions and RETURNING. Plain
        SQL: it runs for every delivery, and the ORM would compile it each time. Its values
        are typed: a fresh backend (one per task at ``CONN_MAX_AGE = 0``) would otherwise
        resolve ``double precision <= numeric`` by reading every ``<=`` operator."""
        quote = connections[using].ops.quote_name
        tat, drain_at = quote(cls.tat.field.column), quote(cls.drain_at.field.column)
        sql = (
            f"UPDATE {quote(cls._meta.db_table)} "
            f"SET {tat} = GREATEST({tat}, %s::float8) + %s::float8 "
            f"WHERE {quote(cls.destination.field.column)} = %s::text AND {tat} <= %s::float8 "
            f"AND {drain_at} IS NULL"
        )
        return sql, (now, interval, destination, now + tolerance)

    @classmethod
    def read(cls, destination: str) -> tuple[float, float | None] | None:
        """``(tat, drain_at)``, or None when the destination was never paced."""
        row = cls.objects.filter(destination=destination).values_list("tat", "drain_at").first()
        return (row[0], row[1]) if row else None

    @classmethod
    def start(cls, destination: str, tat: float) -> bool:
        """Create the destination's row with ``tat``; False when another process did first."""
        using = router.db_for_write(cls)
        connection = transaction.get_connection(using)
        try:
            if connection.in_atomic_block:
                with transaction.atomic(using=using):
                    cls.objects.using(using).create(destination=destination, tat=tat)
            else:
                cls.objects.using(using).create(destination=destination, tat=tat)
        except IntegrityError:
            return False
        return True

    @classmethod
    def hold(cls, destination: str, until: float) -> None:
        """No slot before ``until`` (a 429): move ``tat`` there, never back."""
        pushed = Greatest(F("tat"), Value(until))
        updated = cls.objects.filter(destination=destination).update(tat=pushed)
        if not updated and not cls.start(destination, until):
            cls.objects.filter(destination=destination).update(tat=pushed)

    @classmethod
    def arm(cls, destination: str, *, due: float, token: int, stale_before: float) -> bool:
        """Become the destination's drain, due at ``due``: True when no drain was due (or
        the one due was due before ``stale_before``: lost), so the caller queues it."""
        free = Q(drain_at__isnull=True) | Q(drain_at__lt=stale_before)
        return bool(
            cls.objects.filter(free, destination=destination).update(
                drain_at=due, drain_token=token
            )
        )

    @classmethod
    def hand_over(
        cls, destination: str, token: int, *, drain_at: float | None, new_token: int | None
    ) -> bool:
        """The drain holding ``token``: run until ``drain_at`` (its lease), hand over to the
        next drain (``new_token``, due at ``drain_at``), or let go (both None). False when
        another drain holds the destination now."""
        changes = {"drain_at": drain_at, "drain_token": token if new_token is None else new_token}
        if drain_at is None:
            changes["drain_token"] = None
        return bool(
            cls.objects.filter(destination=destination, drain_token=token).update(**changes)
        )
