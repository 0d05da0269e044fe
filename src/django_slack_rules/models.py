"""Rules, delivery records, and the bookkeeping that keeps workers in step."""

from __future__ import annotations

import datetime
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models, router, transaction
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .validators import (
    is_valid_channel,
    validate_channel,
    validate_match_criteria,
    validate_template,
)

STATUS_FIRING = "firing"
STATUS_RESOLVED = "resolved"


#: The values of ``SlackIntegrationRule.resolve_action`` and ``SlackDelivery.action``, as
#: plain strings (the choices below hold them with their labels).
RESOLVE_POST, RESOLVE_REPLY, RESOLVE_UPDATE = "post", "reply", "update"
RESOLVE_UPDATE_AND_REPLY = "update_and_reply"
ACTION_POST, ACTION_REPLY, ACTION_UPDATE = "post", "reply", "update"


class ResolveAction(models.TextChoices):
    """What a rule does in Slack when an alert it sent resolves."""

    POST = RESOLVE_POST, _("post a new message")
    REPLY = RESOLVE_REPLY, _("reply in the firing message's thread")
    UPDATE = RESOLVE_UPDATE, _("update the firing message")
    UPDATE_AND_REPLY = (
        RESOLVE_UPDATE_AND_REPLY,
        _("update the firing message and reply in its thread"),
    )


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


class SlackIntegrationRuleQuerySet(models.QuerySet):
    """Bulk changes move the rule-set version too (they send no model signals)."""

    def update(self, **kwargs: Any) -> int:
        if "updated_at" not in kwargs:
            kwargs["updated_at"] = timezone.now()
        with transaction.atomic(using=self.db):
            count = super().update(**kwargs)
            RuleSetVersion.bump(self.db)
        return count

    update.alters_data = True  # type: ignore[attr-defined]

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            RuleSetVersion.bump(self.db)
        return created

    def bulk_update(self, objs: Any, *args: Any, **kwargs: Any) -> int:
        with transaction.atomic(using=self.db):
            count = super().bulk_update(objs, *args, **kwargs)
            RuleSetVersion.bump(self.db)
        return count

    def active(self) -> SlackIntegrationRuleQuerySet:
        return self.filter(is_active=True)

    def with_last_delivery(self) -> SlackIntegrationRuleQuerySet:
        """Each rule with its latest delivery: ``last_delivery_state``, ``…_at``, ``…_status``."""
        latest = SlackDelivery.objects.filter(rule=OuterRef("pk")).order_by("-created_at", "-pk")
        return self.annotate(
            last_delivery_state=Subquery(latest.values("state")[:1]),
            last_delivery_at=Subquery(latest.values("created_at")[:1]),
            last_delivery_status=Subquery(latest.values("alert_status")[:1]),
        )


class SlackIntegrationRule(models.Model):
    """Send alerts whose labels match ``match_criteria`` to ``slack_channel``."""

    name = models.CharField(_("name"), max_length=255, unique=True)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True, db_index=True)
    priority = models.IntegerField(
        _("priority"),
        default=0,
        help_text=_("When several rules match, the highest priority wins (then the name, A→Z)."),
    )
    match_criteria = models.JSONField(
        _("match criteria"),
        default=dict,
        blank=True,
        validators=[validate_match_criteria],
        help_text=_(
            'Labels the alert must carry, e.g. {"severity": "critical", "team": "db"} (every '
            "pair present; {} matches every alert), or Alertmanager matchers such as "
            'severity=~"critical|page" and team!="db" (all must match; a missing label counts '
            "as empty)."
        ),
    )
    continue_matching = models.BooleanField(
        _("continue matching"),
        default=False,
        help_text=_(
            "Alertmanager's continue: after this rule takes an alert, the next matching rule "
            "(by priority, then name) gets it too."
        ),
    )
    slack_channel = models.CharField(
        _("Slack channel"),
        max_length=80,
        blank=True,
        validators=[validate_channel],
        help_text=_(
            "'#name' or a channel id. Blank: the alert's 'channel' label, else the default "
            "channel (SLACK_RULES['DEFAULT_CHANNEL'])."
        ),
    )
    message_template = models.TextField(
        _("message template"),
        validators=[validate_template],
        help_text=_(
            "Django template for firing alerts, e.g. ':fire: *{{ alertname }}* {{ summary }}'."
        ),
    )
    resolved_message_template = models.TextField(
        _("resolved message template"),
        blank=True,
        validators=[validate_template],
        help_text=_("Django template for resolved alerts. Blank: nothing is sent on resolve."),
    )
    blocks_template = models.TextField(
        _("Block Kit template"),
        blank=True,
        validators=[validate_template],
        help_text=_(
            "Optional. A Django template that renders to Block Kit JSON: a list of blocks, or "
            '{"blocks": [...]}. Used for firing and resolved messages ({{ status }} tells them '
            "apart); the text templates stay the notification text."
        ),
    )
    resolve_action = models.CharField(
        _("on resolve"),
        max_length=16,
        choices=ResolveAction.choices,
        default=RESOLVE_POST,
        help_text=_(
            "What a resolved alert does in Slack. A thread reply or an update needs the "
            "gateway in bot mode (SLACK_RULES['GATEWAY_MODE'] = 'bot')."
        ),
    )
    reply_broadcast = models.BooleanField(
        _("also send replies to the channel"),
        default=False,
        help_text=_("A thread reply also shows in the channel (Slack's “Also send to channel”)."),
    )
    refire_in_thread = models.BooleanField(
        _("new firings of an open alert in its thread"),
        default=False,
        help_text=_(
            "When the alert fires again before it resolved, reply in the first message's "
            "thread instead of posting a new message (bot mode)."
        ),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = SlackIntegrationRuleQuerySet.as_manager()

    class Meta:
        ordering = ["-priority", "name"]
        verbose_name = _("Slack integration rule")
        verbose_name_plural = _("Slack integration rules")
        indexes = [
            models.Index(fields=["is_active", "-priority", "name"], name="dsr_rule_rank_idx")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.match_criteria is None:
            raise ValidationError({"match_criteria": _("Use {} to match every alert.")})

    def template_for(self, status: str) -> str:
        """The template for ``status``; "" when the rule sends nothing for it."""
        if status == STATUS_RESOLVED:
            return self.resolved_message_template
        return self.message_template

    def sends_on(self, status: str) -> bool:
        return bool(self.template_for(status).strip())

    @property
    def needs_bot_mode(self) -> bool:
        """True when the rule asks for a thread reply or an update (webhook mode cannot)."""
        return self.resolve_action != RESOLVE_POST or self.refire_in_thread

    def in_conversation(self, status: str) -> bool:
        """True when a notification of ``status`` belongs to the alert's first message."""
        if status == STATUS_RESOLVED:
            return self.resolve_action != RESOLVE_POST
        return self.refire_in_thread

    def resolve_channel(self, labels: Mapping[str, str] | None = None, *, default: str) -> str:
        """The rule's channel; else the alert's ``channel`` label; else ``default``
        (the caller passes ``SLACK_RULES["DEFAULT_CHANNEL"]``: models read no settings)."""
        if self.slack_channel:
            return self.slack_channel
        label = (labels or {}).get("channel", "")
        if label:
            return label if is_valid_channel(label) else "#" + label.lstrip("#")
        return default


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    CANCELLED = "cancelled", _("cancelled")


class DeliveryAction(models.TextChoices):
    """What a delivery does in Slack."""

    POST = ACTION_POST, _("new message")
    REPLY = ACTION_REPLY, _("thread reply")
    UPDATE = ACTION_UPDATE, _("update")


class SlackDelivery(models.Model):
    """One notification: what was sent (or tried) for one rule, alert, status and occurrence.

    A thread reply or an update points at the conversation's first message (``parent``),
    whose Slack ``message_ts`` and ``channel_id`` it needs.
    """

    rule = models.ForeignKey(
        SlackIntegrationRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("rule"),
    )
    rule_name = models.CharField(_("rule name"), max_length=255, blank=True)
    alert_id = models.CharField(_("alert id"), max_length=64)
    fingerprint = models.CharField(_("fingerprint"), max_length=255, blank=True)
    alert_status = models.CharField(_("alert status"), max_length=16)
    occurrence = models.CharField(_("occurrence"), max_length=255, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255)
    channel = models.CharField(_("channel"), max_length=80, blank=True)
    text = models.TextField(_("text"), blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    slack_error = models.CharField(_("Slack error"), max_length=255, blank=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    response = models.TextField(_("Slack's response"), blank=True)
    message_ts = models.CharField(_("message ts"), max_length=64, blank=True)
    action = models.CharField(
        _("action"), max_length=8, choices=DeliveryAction.choices, default=ACTION_POST
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="followups",
        verbose_name=_("first message"),
    )
    channel_id = models.CharField(_("Slack channel id"), max_length=32, blank=True)
    thread_ts = models.CharField(_("thread ts"), max_length=64, blank=True)
    blocks = models.JSONField(_("blocks"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("Slack delivery")
        verbose_name_plural = _("Slack deliveries")
        # Plain indexes and a unique constraint: on PostgreSQL, db_index/unique on a CharField
        # add a second "_like" index that every INSERT would also have to write.
        indexes = [
            models.Index(fields=["state", "-created_at"], name="dsr_delivery_state_idx"),
            models.Index(fields=["alert_id"], name="dsr_delivery_alert_idx"),
            models.Index(fields=["fingerprint"], name="dsr_delivery_fingerprint_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="dsr_delivery_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.rule_name or 'rule'} → {self.channel or '?'} ({self.state})"

    @staticmethod
    def make_key(rule_id: Any, alert_id: Any, status: str, occurrence: str) -> str:
        key = f"rule:{rule_id}|alert:{alert_id}|{status}|occ:{occurrence}"
        if len(key) > 255:
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        return key


def rules_changed(sender: type[models.Model], using: str, **kwargs: Any) -> None:
    """``post_save``/``post_delete`` receiver of rules (connected in ``AppConfig.ready()``)."""
    RuleSetVersion.bump(using)


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
