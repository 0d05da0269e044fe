"""Celery tasks: render a rule's message for an alert, record it, send it exactly once.

Delivery is at-most-once per notification: each one has a
:class:`~django_slack_rules.models.SlackDelivery` row with a unique idempotency
key (rule, alert, status, occurrence), and a worker sends only after claiming
the row atomically (pending → sending). A retried or redelivered task finds the
row sent, or claimed by another worker, and stops.

A claim is a lease: a worker that dies while sending leaves the row in
"sending"; once the lease (both timeouts plus a margin) has expired another
attempt may claim it again.
"""

from __future__ import annotations

import datetime
import logging
import random
from typing import Any

from celery import shared_task
from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from .adapters import get_adapter
from .conf import slack_rules_settings
from .exceptions import (
    SlackDeliveryError,
    SlackRateLimitedError,
    SlackSendCancelled,
)
from .models import DeliveryState, DestinationPause, SlackDelivery, SlackIntegrationRule
from .rendering import fallback_message, render_template
from .services.slack_service import SlackService

logger = logging.getLogger(__name__)

#: States a delivery leaves only through "resend".
FINAL_STATES = frozenset(
    str(state) for state in (DeliveryState.SENT, DeliveryState.CANCELLED, DeliveryState.FAILED)
)
#: Seconds added to the timeouts before a "sending" claim counts as abandoned.
LEASE_MARGIN = 30.0
#: Fraction of the broker's visibility timeout that a retry delay may use.
VISIBILITY_SAFETY = 0.9
DEFAULT_VISIBILITY_TIMEOUT = 3600.0


def enqueue(task: Any, *args: Any, **kwargs: Any) -> None:
    """Send ``task`` to SLACK_RULES["QUEUE"] (Celery's default queue when None)."""
    queue = slack_rules_settings.QUEUE
    options = {"queue": queue} if queue else {}
    task.apply_async(args=args, kwargs=kwargs, **options)


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with jitter: BASE * 2**(attempt-1), capped, then halved at random."""
    base = slack_rules_settings.RETRY_BACKOFF_BASE
    cap = slack_rules_settings.RETRY_BACKOFF_MAX
    delay = min(cap, base * 2 ** min(max(0, attempt - 1), 64))
    return random.uniform(delay / 2, delay)


def _max_delay(task: Any) -> float:
    """The longest countdown: below the broker's visibility timeout, so an acks_late
    message is not redelivered while it waits (a longer wait is taken in steps)."""
    options = getattr(task.app.conf, "broker_transport_options", None) or {}
    visibility = float(options.get("visibility_timeout") or DEFAULT_VISIBILITY_TIMEOUT)
    return max(1.0, visibility * VISIBILITY_SAFETY)


def lease_seconds() -> float:
    return slack_rules_settings.CONNECT_TIMEOUT + slack_rules_settings.READ_TIMEOUT + LEASE_MARGIN


def _update(delivery: SlackDelivery, **fields: Any) -> None:
    SlackDelivery.objects.filter(pk=delivery.pk).update(updated_at=timezone.now(), **fields)
    for name, value in fields.items():
        if not hasattr(value, "resolve_expression"):
            setattr(delivery, name, value)


TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    # Attempts are counted on the delivery record (SLACK_RULES["MAX_ATTEMPTS"]), and
    # waiting out a rate-limited channel does not use one.
    "max_retries": None,
}


@shared_task(name="django_slack_rules.tasks.process_slack_for_alert_group", **TASK_OPTIONS)
def process_slack_for_alert_group(
    self: Any,
    /,
    alert_group_id: Any,
    rule_id: Any,
    status: str | None = None,
    occurrence: str | None = None,
    **kwargs: Any,
) -> str:
    """Render ``rule_id``'s message for ``alert_group_id`` and send it once.

    ``status`` ("firing"/"resolved") and ``occurrence`` (the adapter's occurrence
    key) are fixed by the signal handler when the alert is processed; when
    omitted they are read from the alert as it is now. Returns the delivery state.
    """
    if status is not None and occurrence is not None:
        # Fixed by the handler: a retry or a redelivery finds the recorded message and
        # sends it, even if the alert or the rule has been deleted since.
        recorded = _recorded(rule_id, alert_group_id, status, occurrence)
        if recorded is not None:
            return deliver(self, recorded)

    rule = SlackIntegrationRule.objects.filter(pk=rule_id).first()
    if rule is None:
        logger.warning(
            "Slack rule %s no longer exists; nothing sent for alert %s", rule_id, alert_group_id
        )
        return "no-rule"
    adapter = get_adapter()
    try:
        alert = adapter.get_alert(alert_group_id)
    except ObjectDoesNotExist:
        logger.warning(
            "Alert %s no longer exists; nothing sent by rule %r", alert_group_id, rule.name
        )
        return "no-alert"
    if status is None or occurrence is None:
        # Called without them: read them from the alert as it is now.
        status = status or adapter.get_status(alert)
        occurrence = adapter.get_occurrence_key(alert) if occurrence is None else occurrence
        recorded = _recorded(rule_id, alert_group_id, status, occurrence)
        if recorded is not None:
            return deliver(self, recorded)
    delivery = record_delivery(adapter, alert, rule, status, occurrence)
    if delivery is None:
        return "no-template"
    return deliver(self, delivery)


def record_delivery(
    adapter: Any,
    alert: Any,
    rule: SlackIntegrationRule,
    status: str,
    occurrence: str,
    **fields: Any,
) -> SlackDelivery | None:
    """Render the rule's message for the alert and record it as a pending delivery.

    Returns the delivery (the one already recorded for the same rule, alert, status
    and occurrence, if any), or None when the rule has no template for ``status``.
    ``fields`` are extra values for a new record (e.g. ``last_error``).
    """
    fingerprint = adapter.get_fingerprint(alert)
    template = rule.template_for(status)
    if not template.strip():
        logger.info(
            "Rule %r has no %s template; nothing sent (fingerprint=%s)",
            rule.name,
            status,
            fingerprint,
        )
        return None
    alert_id = alert.pk if isinstance(alert.pk, int) else str(alert.pk)
    key = SlackDelivery.make_key(rule.pk, alert_id, status, occurrence)
    text = render_message(adapter, alert, rule, status, occurrence, template, fingerprint)
    try:
        # Callers have looked for the key already: insert, and fall back to the row that
        # a concurrent attempt inserted first.
        with transaction.atomic():
            return SlackDelivery.objects.create(
                idempotency_key=key,
                rule=rule,
                rule_name=rule.name,
                alert_id=str(alert_id),
                fingerprint=fingerprint[:255],
                alert_status=status,
                occurrence=str(occurrence)[:255],
                channel=rule.resolve_channel(adapter.get_labels(alert)),
                text=text,
                **fields,
            )
    except IntegrityError:
        return SlackDelivery.objects.get(idempotency_key=key)


def _recorded(rule_id: Any, alert_id: Any, status: str, occurrence: str) -> SlackDelivery | None:
    key = SlackDelivery.make_key(rule_id, alert_id, status, occurrence)
    return SlackDelivery.objects.filter(idempotency_key=key).first()


def render_message(
    adapter: Any,
    alert: Any,
    rule: SlackIntegrationRule,
    status: str,
    occurrence: str,
    template: str,
    fingerprint: str,
) -> str:
    """The rule's message for the alert; a plain fallback naming the alert if that fails."""
    context: dict[str, Any] = {
        "alertname": str(getattr(alert, "name", "") or ""),
        "status": status,
        "fingerprint": fingerprint,
        "rule": {"name": rule.name},
    }
    try:
        instance = adapter.load_occurrence(alert, occurrence)
        context = adapter.get_context(alert, rule=rule, status=status, instance=instance)
        return render_template(template, context)
    except Exception:
        logger.exception(
            "Rule %r: the %s message failed to render for fingerprint=%s; "
            "sending a plain fallback message instead. Fix the template in the rule.",
            rule.name,
            status,
            fingerprint,
        )
        return fallback_message(context)


@shared_task(name="django_slack_rules.tasks.send_slack_delivery", **TASK_OPTIONS)
def send_slack_delivery(self: Any, /, delivery_id: int) -> str:
    """(Re)send a recorded delivery by id, e.g. after "resend" in the admin."""
    delivery = SlackDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        logger.warning("Slack delivery %s no longer exists; nothing sent", delivery_id)
        return "no-delivery"
    return deliver(self, delivery)


def claim(delivery: SlackDelivery) -> bool:
    """Atomically take ``delivery`` for sending; False when it is sent or claimed elsewhere."""
    now = timezone.now()
    abandoned = now - datetime.timedelta(seconds=lease_seconds())
    claimed = (
        SlackDelivery.objects.filter(pk=delivery.pk)
        .filter(
            Q(state=DeliveryState.PENDING)
            | Q(state=DeliveryState.SENDING, claimed_at__lt=abandoned)
        )
        .update(
            state=DeliveryState.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now
        )
    )
    if claimed:
        delivery.refresh_from_db(fields=["state", "attempts", "claimed_at"])
    return bool(claimed)


def deliver(task: Any, delivery: SlackDelivery) -> str:
    """Claim, send and record one delivery; schedule a retry when it can succeed later."""
    log_args = (delivery.rule_name, delivery.alert_id, delivery.fingerprint, delivery.channel)
    if delivery.state in FINAL_STATES:
        logger.info(
            "Rule %r, alert %s (fingerprint=%s) to %s: already %s; not sent again",
            *log_args,
            delivery.state,
        )
        return str(delivery.state)

    paused = DestinationPause.remaining(delivery.channel)
    if paused > 0:
        # Slack rate-limited this channel: wait without sending and without using an attempt.
        logger.info(
            "Rule %r, alert %s (fingerprint=%s): %s is rate-limited for %.1fs more; waiting",
            *log_args,
            paused,
        )
        raise task.retry(countdown=min(paused + random.uniform(0, 1), _max_delay(task)))

    if not claim(delivery):
        delivery.refresh_from_db(fields=["state", "claimed_at"])
        if delivery.state == str(DeliveryState.SENDING) and delivery.claimed_at is not None:
            # Another attempt is sending it. Look again once its lease has run out: by
            # then it is sent, or that attempt died and this one takes the delivery over.
            elapsed = (timezone.now() - delivery.claimed_at).total_seconds()
            wait = max(1.0, lease_seconds() - elapsed) + random.uniform(0, 1)
            logger.info(
                "Rule %r, alert %s (fingerprint=%s) to %s: being sent by another attempt; "
                "checking again in %.1fs",
                *log_args,
                wait,
            )
            raise task.retry(countdown=min(wait, _max_delay(task)))
        logger.info(
            "Rule %r, alert %s (fingerprint=%s) to %s: already %s; not sent again",
            *log_args,
            delivery.state,
        )
        return str(delivery.state)

    try:
        result = SlackService().send_notification(
            delivery.channel, delivery.text, delivery=delivery
        )
    except SlackSendCancelled as exc:
        _update(delivery, state=DeliveryState.CANCELLED, last_error=f"Cancelled by pre_send: {exc}")
        logger.info("Rule %r, alert %s (fingerprint=%s) to %s: cancelled by pre_send", *log_args)
        return str(delivery.state)
    except SlackDeliveryError as exc:
        return _handle_failure(task, delivery, exc)
    except ImproperlyConfigured as exc:
        _update(delivery, state=DeliveryState.FAILED, last_error=str(exc))
        logger.error(
            "Rule %r, alert %s (fingerprint=%s) to %s: not sent, the package is misconfigured: %s",
            *log_args,
            exc,
        )
        return str(delivery.state)
    except Exception as exc:
        _update(delivery, state=DeliveryState.FAILED, last_error=f"{type(exc).__name__}: {exc}")
        logger.exception(
            "Rule %r, alert %s (fingerprint=%s) to %s: unexpected error while sending", *log_args
        )
        return str(delivery.state)

    _update(delivery, **SlackDelivery.sent_fields(result))
    logger.info(
        "Rule %r, alert %s (fingerprint=%s): sent to %s (attempt %d)", *log_args, delivery.attempts
    )
    return str(delivery.state)


def _handle_failure(task: Any, delivery: SlackDelivery, exc: SlackDeliveryError) -> str:
    log_args = (delivery.rule_name, delivery.alert_id, delivery.fingerprint, delivery.channel)
    record = SlackDelivery.failure_fields(exc)
    max_attempts = slack_rules_settings.MAX_ATTEMPTS
    if not exc.retryable or delivery.attempts >= max_attempts:
        _update(delivery, state=DeliveryState.FAILED, **record)
        logger.error(
            "Rule %r, alert %s (fingerprint=%s) to %s: failed after %d attempt(s), not retried: %s",
            *log_args,
            delivery.attempts,
            exc,
        )
        return str(delivery.state)

    if isinstance(exc, SlackRateLimitedError):
        wait = exc.retry_after if exc.retry_after is not None else backoff_delay(delivery.attempts)
        DestinationPause.pause(delivery.channel, wait)
        countdown = wait + random.uniform(0, 1)
    else:
        countdown = backoff_delay(delivery.attempts)
    countdown = min(countdown, _max_delay(task))
    _update(delivery, state=DeliveryState.PENDING, **record)
    logger.warning(
        "Rule %r, alert %s (fingerprint=%s) to %s: attempt %d of %d failed (%s); retrying in %.1fs",
        *log_args,
        delivery.attempts,
        max_attempts,
        exc,
        countdown,
    )
    raise task.retry(countdown=countdown)
