"""What keeps every worker in step: the rule set's version, the paused destinations, each
destination's pace and line, and the channel ids Slack told us."""

from __future__ import annotations

import datetime
import uuid

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models, router, transaction
from django.db.models import Exists, F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..validators import CHANNEL_MAX_LENGTH


class RuleSetVersion(models.Model):
    """The rule set's version, read on every match.

    Each process keeps a compiled index of the active rules and rebuilds it only
    when the version has changed; it changes, in the same transaction, with every
    rule change. A random value (not a counter) so that a rolled-back change can
    never leave a version that a later change reuses.
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID)
    version = models.UUIDField(default=uuid.uuid4)

    class Meta:
        verbose_name = _("rule set version")

    def __str__(self) -> str:
        return f"rule set version {self.version}"

    @classmethod
    def current(cls, using: str | None = None) -> uuid.UUID | str | None:
        """The version (opaque: a UUID, or its text, as the driver gives it), or None when the row is missing (nothing is cached).

        Read on every match, so it is one plain query without the ORM's overhead, on one
        small table."""
        connection = connections[using or DEFAULT_DB_ALIAS]
        quote = connection.ops.quote_name
        sql = (
            f"SELECT {quote(cls.version.field.column)} FROM {quote(cls._meta.db_table)} "
            f"WHERE {quote(cls._meta.pk.column)} = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [cls.SINGLETON_ID])
            row = cursor.fetchone()
        return row[0] if row else None

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

    While deliveries wait for the destination (its line), ``drain_at`` is when its drain
    task is due and ``drain_token`` which task it is; a newcomer takes no slot then.
    Rate and burst are arguments: models read no settings.
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
        cls, destination: str, *, interval: float, tolerance: float, now: float, for_line: bool
    ) -> bool:
        """Take the destination's slot at ``now`` in one UPDATE; False when there is none
        (or no row yet). A newcomer gets none while a drain is armed (``for_line`` False):
        the deliveries waiting go first."""
        ready = cls.objects.filter(destination=destination, tat__lte=now + tolerance)
        if not for_line:
            ready = ready.filter(drain_at__isnull=True)
        return bool(ready.update(tat=Greatest(F("tat"), Value(now)) + Value(interval)))

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
    def hand_over(cls, destination: str, token: int, *, due: float, new_token: int) -> bool:
        """The drain holding ``token`` hands the destination over to its successor
        (``new_token``, due at ``due``). False when another drain holds it now."""
        return bool(
            cls.objects.filter(destination=destination, drain_token=token).update(
                drain_at=due, drain_token=new_token
            )
        )

    @classmethod
    def let_go(cls, destination: str, token: int, line: Exists) -> bool:
        """The drain holding ``token`` lets go of the destination, in the same statement
        that sees ``line`` (``EXISTS`` a waiting delivery) false. False when a delivery
        waits, or another drain holds the destination."""
        held = cls.objects.filter(~line, destination=destination, drain_token=token)
        return bool(held.update(drain_at=None, drain_token=None))


class KnownChannel(models.Model):
    """A channel name and the id Slack answered for it (bot mode): one destination."""

    name = models.CharField(_("channel name"), max_length=CHANNEL_MAX_LENGTH)
    channel_id = models.CharField(_("Slack channel id"), max_length=32)

    class Meta:
        verbose_name = _("known channel")
        verbose_name_plural = _("known channels")
        constraints = [models.UniqueConstraint(fields=["name"], name="dsr_channel_name_unique")]

    def __str__(self) -> str:
        return f"{self.name} = {self.channel_id}"
