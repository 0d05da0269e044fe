"""The fixed values rules and deliveries store: statuses, resolve actions, delivery states."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

STATUS_FIRING = "firing"
STATUS_RESOLVED = "resolved"
#: ``SlackDelivery.alert_status`` of a digest: one message for the deliveries it folded.
STATUS_DIGEST = "digest"


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


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    CANCELLED = "cancelled", _("cancelled")
    #: Folded into a digest (``SlackDelivery.digest``): its alert was reported there.
    DIGESTED = "digested", _("digested")


#: The settled states: nothing changes them by waiting. A failed or cancelled delivery
#: leaves only through "resend"; a sent or digested one never leaves. A digested delivery's
#: alert goes to Slack with its digest, a delivery of its own that is retried, or resent
#: when it failed, like any other: while its digest is failed, the alert is in no message.
FINAL_STATES = frozenset(
    str(state)
    for state in (
        DeliveryState.SENT,
        DeliveryState.CANCELLED,
        DeliveryState.FAILED,
        DeliveryState.DIGESTED,
    )
)


class DeliveryAction(models.TextChoices):
    """What a delivery does in Slack."""

    POST = ACTION_POST, _("new message")
    REPLY = ACTION_REPLY, _("thread reply")
    UPDATE = ACTION_UPDATE, _("update")
