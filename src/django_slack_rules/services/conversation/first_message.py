"""A delivery's place in its conversation: the first message it answers (``parent``), what
it asks for (a post, a reply or an update), how long it waits for that message to be sent,
and the update that goes with a resolution's thread reply (``update_and_reply``)."""

from __future__ import annotations

from django.utils import timezone

from ...conf import slack_rules_settings
from ...models import (
    ACTION_POST,
    ACTION_REPLY,
    ACTION_UPDATE,
    FINAL_STATES,
    RESOLVE_REPLY,
    RESOLVE_UPDATE,
    RESOLVE_UPDATE_AND_REPLY,
    STATUS_FIRING,
    STATUS_RESOLVED,
    DeliveryState,
    SlackDelivery,
    SlackIntegrationRule,
)
from ...typing import Id

#: The longest single wait for a first message that is not sent yet (seconds).
WAIT_STEP = 5.0


def find_parent(
    rule: SlackIntegrationRule, alert_id: Id, status: str, occurrence: str
) -> SlackDelivery | None:
    """The delivery of the conversation's first message for this notification, or None.

    A resolution belongs to the firing of the same occurrence, else to the alert's open
    conversation; a new firing (``refire_in_thread``) to the open conversation of an
    earlier occurrence. A conversation is open until a resolution of the alert is recorded
    by the rule.
    """
    firings = SlackDelivery.objects.filter(
        rule_id=rule.pk, alert_id=str(alert_id), alert_status=STATUS_FIRING
    ).order_by("-created_at", "-pk")
    if status == STATUS_RESOLVED:
        same = firings.filter(occurrence=occurrence).first()
        if same is not None:
            return _first_message(same)
    latest = firings.exclude(occurrence=occurrence).first()
    if latest is None:
        return None
    resolved_since = SlackDelivery.objects.filter(
        rule_id=rule.pk,
        alert_id=str(alert_id),
        alert_status=STATUS_RESOLVED,
        created_at__gte=latest.created_at,
    ).exclude(occurrence=occurrence)
    return None if resolved_since.exists() else _first_message(latest)


def _first_message(delivery: SlackDelivery) -> SlackDelivery:
    """The top-level message of ``delivery``'s conversation (itself when it is one)."""
    if delivery.parent_id is not None and delivery.action != ACTION_POST:
        return delivery.parent or delivery
    return delivery


def intended_action(rule: SlackIntegrationRule, status: str) -> str:
    """What a notification of ``status`` asks for: post, reply or update (the first half
    of ``update_and_reply`` is the reply; :func:`companion_update` makes the update)."""
    if status == STATUS_RESOLVED:
        if rule.resolve_action == RESOLVE_UPDATE:
            return ACTION_UPDATE
        if rule.resolve_action in (RESOLVE_REPLY, RESOLVE_UPDATE_AND_REPLY):
            return ACTION_REPLY
        return ACTION_POST
    return ACTION_REPLY if rule.refire_in_thread else ACTION_POST


def parent_wait(delivery: SlackDelivery) -> float:
    """Seconds to wait before sending ``delivery``, because its first message is not sent yet
    (0: send now). Bounded by ``SLACK_RULES["THREAD_WAIT"]`` from the delivery's creation."""
    if (
        delivery.parent_id is None
        or delivery.action == ACTION_POST
        or not slack_rules_settings.BOT_MODE
    ):
        return 0.0
    found = (
        SlackDelivery.objects.filter(pk=delivery.parent_id)
        .values_list("state", "digest__state")
        .first()
    )
    if found is None:
        return 0.0
    state, digest_state = found
    shown = digest_state if state == str(DeliveryState.DIGESTED) else state  # by its digest
    if shown is None or shown in FINAL_STATES:
        return 0.0
    waited = (timezone.now() - delivery.created_at).total_seconds()
    remaining = slack_rules_settings.THREAD_WAIT - waited
    return min(remaining, WAIT_STEP) if remaining > 0 else 0.0


def companion_update(delivery: SlackDelivery) -> SlackDelivery | None:
    """For ``update_and_reply``: the update that goes with a resolution's thread reply.

    Recorded (once: its own idempotency key) after the reply is settled; None when the
    rule does not ask for it, or the reply has no first message to update.
    """
    if (
        delivery.alert_status != STATUS_RESOLVED
        or delivery.action != ACTION_REPLY
        or delivery.parent_id is None
        or delivery.state not in (str(DeliveryState.SENT), str(DeliveryState.FAILED))
        or not slack_rules_settings.BOT_MODE
    ):
        return None
    rule = delivery.rule
    if rule is None or rule.resolve_action != RESOLVE_UPDATE_AND_REPLY:
        return None
    parent = delivery.parent
    if parent is None or parent.state == str(DeliveryState.DIGESTED):
        return None  # folded into a digest: the reply in the digest's thread is the news
    key = SlackDelivery.make_key(
        delivery.rule_id, delivery.alert_id, delivery.alert_status, f"{delivery.occurrence}|update"
    )
    companion, _ = SlackDelivery.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "rule": rule,
            "rule_name": delivery.rule_name,
            "alert_id": delivery.alert_id,
            "fingerprint": delivery.fingerprint,
            "alertname": delivery.alertname,
            "severity": delivery.severity,
            "alert_status": delivery.alert_status,
            "occurrence": delivery.occurrence,
            "channel": delivery.channel,
            "text": delivery.text,
            "blocks": delivery.blocks,
            "action": ACTION_UPDATE,
            "parent_id": delivery.parent_id,
        },
    )
    return companion
