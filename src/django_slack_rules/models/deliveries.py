"""Delivery records: one row per notification, and per Slack call."""

from __future__ import annotations

import hashlib

from django.db import models
from django.utils.translation import gettext_lazy as _

from ..exceptions import FAILURE_REASONS
from ..typing import Id
from ..validators import CHANNEL_MAX_LENGTH
from .choices import ACTION_POST, DeliveryAction, DeliveryState


class SlackDelivery(models.Model):
    """One notification: what was sent (or tried) for one rule, alert, status and occurrence.

    A thread reply or an update points at the conversation's first message (``parent``),
    whose Slack ``message_ts`` and ``channel_id`` it needs. In a storm, a delivery waiting
    for its destination's slot has ``waiting_since``; one folded into a digest is
    ``digested`` and points at the digest's delivery (``digest``).

    The row is written by the signal receiver inside the host's transaction (the outbox), so
    its foreign keys have no database constraint: PostgreSQL and SQLite check those at the
    host's COMMIT, where a rule or a first message deleted meanwhile would fail the host's
    transaction. Django's ``on_delete`` still clears them when a rule or delivery is deleted.
    """

    rule = models.ForeignKey(
        "django_slack_rules.SlackIntegrationRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("rule"),
        db_constraint=False,
    )
    rule_name = models.CharField(_("rule name"), max_length=255, blank=True)
    alert_id = models.CharField(_("alert id"), max_length=64)
    fingerprint = models.CharField(_("fingerprint"), max_length=255, blank=True)
    alertname = models.CharField(_("alert name"), max_length=255, blank=True)
    severity = models.CharField(_("severity"), max_length=64, blank=True)
    alert_status = models.CharField(_("alert status"), max_length=16)
    occurrence = models.CharField(_("occurrence"), max_length=255, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255)
    channel = models.CharField(_("channel"), max_length=CHANNEL_MAX_LENGTH, blank=True)
    text = models.TextField(_("text"), blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    slack_error = models.CharField(_("Slack error"), max_length=255, blank=True)
    #: Which hop failed the last attempt (``exceptions.FAILURE_REASONS``), "" when none did.
    failure_reason = models.CharField(
        _("failure reason"),
        max_length=32,
        blank=True,
        choices=[(reason, reason.replace("_", " ")) for reason in FAILURE_REASONS],
    )
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
        db_constraint=False,
    )
    channel_id = models.CharField(_("Slack channel id"), max_length=32, blank=True)
    thread_ts = models.CharField(_("thread ts"), max_length=64, blank=True)
    blocks = models.JSONField(_("blocks"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    #: When a pending delivery's next attempt is due (its task was told to retry then).
    retry_at = models.DateTimeField(_("retry at"), null=True, blank=True)
    #: Set while the delivery waits for its destination's next slot (pacing).
    waiting_since = models.DateTimeField(_("waiting since"), null=True, blank=True)
    digest = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="folded",
        verbose_name=_("digest"),
        # Indexed where set only (below): almost every row has none.
        db_index=False,
        db_constraint=False,
    )
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
            # MariaDB has no partial indexes: there InnoDB indexes the foreign key itself.
            models.Index(
                fields=["digest"],
                name="dsr_delivery_digest_idx",
                condition=models.Q(digest__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="dsr_delivery_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.rule_name or 'rule'} → {self.channel or '?'} ({self.state})"

    @staticmethod
    def make_key(rule_id: Id | None, alert_id: Id, status: str, occurrence: str) -> str:
        key = f"rule:{rule_id}|alert:{alert_id}|{status}|occ:{occurrence}"
        if len(key) > 255:
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        return key
