"""Rules, delivery records, and the bookkeeping that keeps workers in step."""

from __future__ import annotations

import datetime
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models, router, transaction
from django.db.models import OuterRef, Subquery
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


class RuleSetVersion(models.Model):
    """One row whose random version changes, in the same transaction, with every rule change.

    Each process keeps a compiled index of the active rules and rebuilds it only
    when the version has changed. A random value (not a counter) so that a
    rolled-back change can never leave a version that a later change reuses.
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID)
    version = models.UUIDField(default=uuid.uuid4)

    class Meta:
        verbose_name = _("rule set version")

    def __str__(self) -> str:
        return f"rule set version {self.version}"

    @classmethod
    def current(cls, using: str | None = None) -> Any:
        """The version (opaque), or None when the row is missing (then nothing is cached).

        Read on every match, so it is one plain query without the ORM's overhead.
        """
        connection = connections[using or DEFAULT_DB_ALIAS]
        quote = connection.ops.quote_name
        meta = cls._meta
        sql = (
            f"SELECT {quote(cls.version.field.column)} FROM {quote(meta.db_table)} "
            f"WHERE {quote(meta.pk.column)} = %s"
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


class SlackDelivery(models.Model):
    """One notification: what was sent (or tried) for one rule, alert, status and occurrence."""

    rule = models.ForeignKey(
        SlackIntegrationRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("rule"),
    )
    rule_name = models.CharField(_("rule name"), max_length=255, blank=True)
    alert_id = models.CharField(_("alert id"), max_length=64, db_index=True)
    fingerprint = models.CharField(_("fingerprint"), max_length=255, blank=True, db_index=True)
    alert_status = models.CharField(_("alert status"), max_length=16)
    occurrence = models.CharField(_("occurrence"), max_length=255, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, unique=True)
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
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("Slack delivery")
        verbose_name_plural = _("Slack deliveries")
        indexes = [models.Index(fields=["state", "-created_at"], name="dsr_delivery_state_idx")]

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

    @classmethod
    def remaining(cls, destination: str) -> float:
        """Seconds until ``destination`` may be sent to again (0 when it is not paused)."""
        until = (
            cls.objects.filter(destination=destination, paused_until__gt=timezone.now())
            .values_list("paused_until", flat=True)
            .first()
        )
        return max(0.0, (until - timezone.now()).total_seconds()) if until else 0.0
