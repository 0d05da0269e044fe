"""Rules: which alerts go to which Slack channel, with which message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..buttons import validate_actions
from ..rendering.samples import blocks_template_problems
from ..typing import Id
from ..validators import (
    CHANNEL_MAX_LENGTH,
    is_valid_channel,
    validate_channel,
    validate_match_criteria,
    validate_template,
)
from .choices import RESOLVE_POST, STATUS_RESOLVED, ResolveAction
from .coordination import RuleSetVersion
from .deliveries import SlackDelivery
from .ruleset import MAX_RULES, RuleChange


def note_change(using: str, rule_ids: Iterable[Id | None] | None) -> None:
    """Move the rule set's version and log which rules changed (None: any), in that order
    and in one transaction (the version's row lock orders the log: ``models.ruleset``).

    Every ORM change of rules calls it. Code that changes the rules table around the ORM
    (raw SQL, a data migration's ``update`` through the historical model) calls
    ``note_change(alias, None)`` after it, so that every process rebuilds its index."""
    if rule_ids is not None:
        rule_ids = list(rule_ids)
        if not rule_ids:
            return  # nothing changed
    with transaction.atomic(using=using):
        RuleSetVersion.bump(using)
        RuleChange.record(using, rule_ids, RuleSetVersion.current(using))


class SlackIntegrationRuleQuerySet(models.QuerySet):
    """Bulk changes move the rule-set version and log the rules they change too (they send
    no model signals)."""

    def update(self, **kwargs: object) -> int:
        if "updated_at" not in kwargs:
            kwargs["updated_at"] = timezone.now()
        with transaction.atomic(using=self.db):
            # The rows updated are the rows logged: a few are updated by id, many at once.
            ids = list(self.order_by().values_list("pk", flat=True)[: MAX_RULES + 1])
            if len(ids) <= MAX_RULES:
                count = models.QuerySet.update(self.filter(pk__in=ids), **kwargs)
                note_change(self.db, ids)
            else:
                count = super().update(**kwargs)
                note_change(self.db, None)
        return count

    update.alters_data = True  # type: ignore[attr-defined]

    # Any: what QuerySet.bulk_create takes and gives (its model is unknown to the stubs in a
    # QuerySet subclass), passed on as it is.
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            note_change(self.db, [obj.pk for obj in created])
        return created

    # Any: as for bulk_create.
    def bulk_update(self, objs: Any, *args: Any, **kwargs: Any) -> int:
        objs = list(objs)
        with transaction.atomic(using=self.db):
            count = super().bulk_update(objs, *args, **kwargs)
            note_change(self.db, [obj.pk for obj in objs])
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
        max_length=CHANNEL_MAX_LENGTH,
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
    digest_opt_out = models.BooleanField(
        _("never in a digest"),
        default=False,
        help_text=_(
            "In an alert storm, when more messages wait for the channel than "
            "SLACK_RULES['DIGEST_AFTER'], they are folded into one digest. Tick this to send "
            "this rule's alerts one by one instead, paced (e.g. a paging channel)."
        ),
    )
    actions = models.JSONField(
        _("buttons"),
        default=list,
        blank=True,
        validators=[validate_actions],
        help_text=_(
            "What the firing message offers in Slack (bot mode): acknowledge the alert, "
            "silence it (1, 4 or 24 hours), open it in the host. Each needs the host's "
            "adapter to support it."
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
        # Rendered for a sample alert the rule matches: every path that validates a rule
        # (the form, the admin, the import commands) refuses what Slack would refuse.
        problems = blocks_template_problems(self)
        if problems:
            raise ValidationError({"blocks_template": problems})

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
        """The rule's channel; else the alert's ``channel`` label, when it is a Slack channel
        (``team-web`` and ``#team-web`` are); else ``default`` (the caller passes
        ``SLACK_RULES["DEFAULT_CHANNEL"]``: models read no settings)."""
        if self.slack_channel:
            return self.slack_channel
        label = channel_from_label(labels)
        return label or default


def channel_from_label(labels: Mapping[str, str] | None) -> str:
    """The alert's ``channel`` label as a channel ("#" added to a bare name); "" when it is
    absent or not a channel Slack could have (too long, upper case, spaces...)."""
    label = str((labels or {}).get("channel", "") or "")
    if not label:
        return ""
    if is_valid_channel(label):
        return label
    named = "#" + label.lstrip("#")
    return named if is_valid_channel(named) else ""


def rules_changed(sender: type[models.Model], using: str, **kwargs: object) -> None:
    """``post_save``/``post_delete`` receiver of rules (connected in ``AppConfig.ready()``):
    the version moves and the rule's change is logged, so each process updates its index."""
    instance = kwargs.get("instance")
    note_change(using, None if not isinstance(instance, models.Model) else [instance.pk])
