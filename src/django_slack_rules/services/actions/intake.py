"""Taking a click from Slack: verify it, record it as a pending action, answer.

This is all the view does before it answers, so Slack hears back within its three
seconds whatever the broker or Slack itself are doing: the signature is checked (CPU
only), and one row is written. The rest (who clicked, may they, the host's change, the
message's update) is a Celery task's work (:mod:`.perform`), queued once Slack has its
answer.

- A request that is not Slack's (no or a wrong signature), or more than five minutes
  old, or one taken already (the same signature: a replay) gets 401 and changes nothing.
- A second click on an action already taken for the same message (a double click) is
  recorded as a duplicate and done no second time.
- A click on the ``open`` link button needs nothing: Slack opens the link.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass
from urllib.parse import parse_qs

from django.db import IntegrityError, router, transaction
from django.utils import timezone

from ...buttons import OPEN, action_of
from ...models import ActionState, SlackAction, SlackDelivery
from ...typing import JSONObject, JSONValue
from .signature import MAX_CLOCK_SKEW, SigningSecretMissing, signing_secret, verify

logger = logging.getLogger(__name__)

#: The payload type of a click on a message's button or select.
BLOCK_ACTIONS = "block_actions"


@dataclass(frozen=True)
class Answer:
    """What Slack gets (``status``, ``text``), and the pending action to queue after it."""

    status: int
    text: str = ""
    action_id: int | None = None


def take(
    body: bytes, timestamp: str | None, signature: str | None, *, now: float | None = None
) -> Answer:
    """Verify one request to the actions endpoint and record its click."""
    try:
        secret = signing_secret()
    except SigningSecretMissing as exc:
        logger.error("Refused a request from Slack: %s", exc)
        return Answer(503, "The Slack actions endpoint is not configured (no signing secret).\n")
    verdict = verify(body, timestamp, signature, secret=secret, now=now)
    if not verdict.ok:
        logger.warning("Refused a request to the Slack actions endpoint: %s", verdict.reason)
        return Answer(401, "Not a valid request from Slack.\n")
    payload = parse_payload(body)
    if payload is None:
        logger.warning("A signed request from Slack without a JSON payload; ignored")
        return Answer(400, "No interaction payload.\n")
    if payload.get("type") != BLOCK_ACTIONS or not payload.get("actions"):
        logger.info(
            "Slack sent a %r interaction, which no button of ours makes; ignored",
            payload.get("type"),
        )
        return Answer(200)
    actions = payload["actions"]
    first = actions[0] if isinstance(actions, list) else None
    element = first if isinstance(first, dict) else {}
    if action_of(str(element.get("action_id") or "")) == OPEN:
        return Answer(200)  # a link: Slack opened it
    return record(payload, element, str(signature))


def parse_payload(body: bytes) -> JSONObject | None:
    """The JSON object in the form field ``payload``, as Slack posts interactions."""
    try:
        values = parse_qs(body.decode("utf-8"), strict_parsing=False).get("payload")
        data = json.loads(values[0]) if values else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def record(payload: JSONObject, element: JSONObject, signature: str) -> Answer:
    """Record the click as a pending action (a duplicate one when its action is taken for
    the same message already); 401 for a request recorded before."""
    action = SlackAction(request_key=signature[:128], **fields(payload, element))
    if action.is_known and action.message_ref:
        action.effect_key = SlackAction.make_effect_key(action.message_ref, action.action)
    using = router.db_for_write(SlackAction)
    try:
        with transaction.atomic(using=using):
            action.save(force_insert=True, using=using)
    except IntegrityError:
        if SlackAction.objects.using(using).filter(request_key=action.request_key).exists():
            logger.warning("Refused a replayed request from Slack (a click taken already)")
            return Answer(401, "This request was taken already.\n")
        # A double click: the same action on the same message is taken already.
        action.pk, action.effect_key = None, None
        action.state = str(ActionState.DUPLICATE)
        action.reason = "The same action on this message was taken already."
        action.finished_at = timezone.now()
        try:
            with transaction.atomic(using=using):
                action.save(force_insert=True, using=using)
        except IntegrityError:
            return Answer(401, "This request was taken already.\n")
        return Answer(200)
    return Answer(200, action_id=action.pk)


def fields(payload: JSONObject, element: JSONObject) -> dict[str, object]:
    """The row's fields from Slack's ``block_actions`` payload."""
    user = _dict(payload.get("user"))
    container = _dict(payload.get("container"))
    selected = _dict(element.get("selected_option"))
    element_action_id = str(element.get("action_id") or "")
    ref = str(element.get("block_id") or "")[:255]
    return {
        "action": action_of(element_action_id) or "unknown",
        "action_id": element_action_id[:255],
        "value": str(selected.get("value") or element.get("value") or "")[:255],
        "message_ref": ref,
        "delivery_id": (
            SlackDelivery.objects.filter(idempotency_key=ref).values_list("pk", flat=True).first()
            if ref
            else None
        ),
        "slack_user_id": str(user.get("id") or "")[:32],
        "slack_user_name": str(user.get("username") or user.get("name") or "")[:255],
        "slack_team_id": str(user.get("team_id") or _dict(payload.get("team")).get("id") or "")[
            :32
        ],
        "channel_id": str(
            container.get("channel_id") or _dict(payload.get("channel")).get("id") or ""
        )[:32],
        "message_ts": str(
            container.get("message_ts") or _dict(payload.get("message")).get("ts") or ""
        )[:64],
        "clicked_at": _time(element.get("action_ts")),
    }


def _dict(value: JSONValue) -> JSONObject:
    return value if isinstance(value, dict) else {}


def _time(value: JSONValue) -> datetime.datetime:
    """Slack's ``action_ts`` ("1700000000.123456") as a datetime; now when absent, or further
    from now than a request's timestamp may be."""
    now = timezone.now()
    if not isinstance(value, (str, int, float)):
        return now
    try:
        clicked = datetime.datetime.fromtimestamp(float(value), tz=datetime.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
    if abs((now - clicked).total_seconds()) > MAX_CLOCK_SKEW:
        return now
    return clicked
