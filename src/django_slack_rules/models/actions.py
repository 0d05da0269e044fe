"""Actions from Slack: each click kept as a row (its own outbox), and who the clicker is.

A verified click is recorded as a pending :class:`SlackAction` before Slack gets its
answer; a Celery task does it afterwards. The row is also the audit: who, what, when,
the outcome and why. :class:`SlackUserLink` remembers which host user a Slack user is.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..buttons import ACTIONS, HOST_ACTIONS


class ActionState(models.TextChoices):
    #: Taken from Slack, not done yet (a task is queued, or recovery queues one).
    PENDING = "pending", _("pending")
    #: A worker is doing it (held for a lease, then recovery may queue it again).
    TAKING = "taking", _("in progress")
    DONE = "done", _("done")
    #: Not done: the clicker, the rule or the host does not allow it (Slack says why).
    REFUSED = "refused", _("refused")
    #: Not done: the host's adapter failed (the reason says how).
    FAILED = "failed", _("failed")
    #: A second click on an action already taken for the same message: not done again.
    DUPLICATE = "duplicate", _("duplicate")


#: The states an action never leaves.
FINAL_ACTION_STATES = frozenset(
    str(state)
    for state in (
        ActionState.DONE,
        ActionState.REFUSED,
        ActionState.FAILED,
        ActionState.DUPLICATE,
    )
)


class NoticeState(models.TextChoices):
    """How Slack was told the outcome: the message updated, or an ephemeral answer."""

    NONE = "", _("nothing to tell")
    PENDING = "pending", _("to tell")
    SENT = "sent", _("told")
    #: Nothing sent on purpose (e.g. the message shows the alert's resolution by now).
    SKIPPED = "skipped", _("not told")
    FAILED = "failed", _("could not tell")


class SlackAction(models.Model):
    """One click on a message's button: what was asked, by whom, and what came of it."""

    #: Slack's signature of the request (``X-Slack-Signature``): one row per request, so a
    #: replayed request is refused.
    request_key = models.CharField(_("request signature"), max_length=128)
    #: ``<message>|<action>`` while this click may take effect; unique, so a double click
    #: acts once. Cleared (NULL, which a unique constraint lets repeat on every database)
    #: when the click is refused or fails, so another may act.
    effect_key = models.CharField(  # noqa: DJ001 - NULL, not "": many rows hold none
        _("effect key"), max_length=300, null=True, blank=True
    )
    action = models.CharField(_("action"), max_length=16)
    #: The element's ``action_id`` as Slack sent it (``dsr_acknowledge``, or one unknown).
    action_id = models.CharField(_("Slack action id"), max_length=255, blank=True)
    #: The option chosen (a silence's duration, in seconds).
    value = models.CharField(_("value"), max_length=255, blank=True)
    #: The message's reference (its delivery's idempotency key): the block's ``block_id``.
    message_ref = models.CharField(_("message"), max_length=255, blank=True)
    delivery = models.ForeignKey(
        "django_slack_rules.SlackDelivery",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="slack_actions",
        verbose_name=_("delivery"),
    )
    slack_user_id = models.CharField(_("Slack user id"), max_length=32, blank=True)
    slack_user_name = models.CharField(_("Slack user name"), max_length=255, blank=True)
    slack_team_id = models.CharField(_("Slack team id"), max_length=32, blank=True)
    channel_id = models.CharField(_("Slack channel id"), max_length=32, blank=True)
    message_ts = models.CharField(_("message ts"), max_length=64, blank=True)
    #: The host user it was done as (once mapped).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("host user"),
    )
    state = models.CharField(
        _("state"), max_length=16, choices=ActionState.choices, default=ActionState.PENDING
    )
    #: Why it was refused or failed ("" when done).
    reason = models.TextField(_("reason"), blank=True)
    #: A silence's end.
    until = models.DateTimeField(_("until"), null=True, blank=True)
    #: When the user clicked (Slack's ``action_ts``).
    clicked_at = models.DateTimeField(_("clicked"))
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    #: A worker holds the action until then (a lease), or a retry is due then.
    held_until = models.DateTimeField(_("held until"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    notice_state = models.CharField(
        _("Slack told"), max_length=8, choices=NoticeState.choices, blank=True, default=""
    )
    notice_error = models.TextField(_("why Slack was not told"), blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("Slack action")
        verbose_name_plural = _("Slack actions")
        indexes = [models.Index(fields=["state", "created_at"], name="dsr_action_state_idx")]
        constraints = [
            models.UniqueConstraint(fields=["request_key"], name="dsr_action_request_unique"),
            models.UniqueConstraint(fields=["effect_key"], name="dsr_action_effect_unique"),
        ]

    def __str__(self) -> str:
        who = self.slack_user_name or self.slack_user_id or "?"
        return f"{self.action} by {who} ({self.state})"

    @property
    def is_known(self) -> bool:
        """Whether the click asked for an action this package offers."""
        return self.action in ACTIONS

    @property
    def changes_host(self) -> bool:
        return self.action in HOST_ACTIONS

    @staticmethod
    def make_effect_key(message_ref: str, action: str) -> str:
        return f"{message_ref}|{action}"


class SlackUserLink(models.Model):
    """Which host user a Slack user is. Found by email the first time (``users.info``), or
    set by an admin: fill in ``user`` for a Slack user the email did not find."""

    class Source(models.TextChoices):
        EMAIL = "email", _("the same email address")
        RESOLVER = "resolver", _("the host's resolver")
        ADMIN = "admin", _("an admin")

    slack_user_id = models.CharField(_("Slack user id"), max_length=32)
    slack_team_id = models.CharField(_("Slack team id"), max_length=32, blank=True)
    slack_name = models.CharField(_("Slack name"), max_length=255, blank=True)
    email = models.CharField(_("email in Slack"), max_length=254, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("host user"),
        help_text=_("Empty: not linked yet; the next click looks the email up again."),
    )
    source = models.CharField(
        _("linked by"), max_length=16, choices=Source.choices, default=Source.ADMIN
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["slack_name", "slack_user_id"]
        verbose_name = _("Slack user link")
        verbose_name_plural = _("Slack user links")
        constraints = [
            models.UniqueConstraint(fields=["slack_user_id"], name="dsr_user_link_unique")
        ]

    def __str__(self) -> str:
        name = self.slack_name or self.slack_user_id
        return f"{name} → {self.user}" if self.user_id else f"{name} (not linked)"
