"""The outbox: each notification is recorded with the alert, and queued once it is committed.

The signal receiver (``handlers.py``) calls :func:`record_alert` inside the host's
transaction. It matches the alert, renders each matching rule's message and INSERTs one
``pending`` :class:`~django_slack_rules.models.SlackDelivery` per rule, in one statement,
inside a savepoint: if anything of ours fails there, the savepoint rolls back and the
host's transaction goes on without it. On commit, :func:`queue` sends each delivery's id
to the worker. If the host rolls back, nothing exists; if the broker is down, the rows
simply stay pending until :mod:`.recovery` queues them.

A delivery's unique key (rule, alert, status, occurrence) makes a notification one row: the
same occurrence signalled again records nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, router, transaction

from ..adapters import BaseAlertAdapter, get_adapter
from ..models import SlackDelivery, SlackIntegrationRule
from .message import build_delivery
from .slack_matcher import SlackRuleMatcherService

logger = logging.getLogger(__name__)


def record_alert(
    adapter: BaseAlertAdapter, alert: Any, status: str, instance: Any = None
) -> list[SlackDelivery]:
    """Match ``alert`` and record one pending delivery per rule that gets it; the new rows.

    Runs in a savepoint of the caller's transaction (its own transaction in autocommit).
    Raises what the database raised; the savepoint is rolled back by then.
    """
    using = router.db_for_write(SlackDelivery)
    deliveries: list[SlackDelivery] = []
    try:
        with transaction.atomic(using=using):
            labels = adapter.get_labels(alert)
            occurrence = adapter.get_occurrence_key(alert, instance)
            for rule in SlackRuleMatcherService().find_matching_rules(labels):
                delivery = _build(adapter, alert, rule, status, occurrence, instance)
                if delivery is not None:
                    deliveries.append(delivery)
            SlackDelivery.objects.using(using).bulk_create(deliveries)
            return deliveries
    except IntegrityError:
        if not deliveries:
            raise
    # Some are recorded already (the same occurrence signalled again): record the others.
    with transaction.atomic(using=using):
        return _insert_new(deliveries, using)


def _build(
    adapter: BaseAlertAdapter,
    alert: Any,
    rule: SlackIntegrationRule,
    status: str,
    occurrence: str,
    instance: Any,
) -> SlackDelivery | None:
    if not rule.sends_on(status):
        logger.info(
            "Rule %r has no %s template; nothing sent for fingerprint=%s",
            rule.name,
            status,
            adapter.get_fingerprint(alert),
        )
        return None
    return build_delivery(adapter, alert, rule, status, occurrence, instance=instance)


def _insert_new(deliveries: Sequence[SlackDelivery], using: str) -> list[SlackDelivery]:
    """INSERT those of ``deliveries`` whose key is not recorded yet; the new rows."""
    keys = [delivery.idempotency_key for delivery in deliveries]
    recorded = set(
        SlackDelivery.objects.using(using)
        .filter(idempotency_key__in=keys)
        .values_list("idempotency_key", flat=True)
    )
    new = [delivery for delivery in deliveries if delivery.idempotency_key not in recorded]
    SlackDelivery.objects.using(using).bulk_create(new)
    return new


def record_one(alert_id: Any, rule_id: Any, status: str | None, occurrence: str | None) -> Any:
    """Record the notification of rule ``rule_id`` for alert ``alert_id``; its delivery's id,
    or why there is none ("no-alert", "no-rule", "no-template").

    For a task queued with the two ids alone (hosts and scripts do, as the seed's handler
    did): the alert is read as it is now where ``status`` or ``occurrence`` is missing. A
    notification recorded already is not recorded again: its id is returned.
    """
    if status is not None and occurrence is not None:
        # Recorded already (a redelivered or retried message): sent as recorded, even if
        # the alert or the rule has been deleted since.
        key = SlackDelivery.make_key(rule_id, alert_id, status, occurrence)
        recorded = SlackDelivery.objects.filter(idempotency_key=key).values_list("pk", flat=True)
        if recorded:
            return recorded[0]
    adapter = get_adapter()
    rule = SlackIntegrationRule.objects.filter(pk=rule_id).first()
    if rule is None:
        logger.warning(
            "Slack rule %s no longer exists; nothing sent for alert %s", rule_id, alert_id
        )
        return "no-rule"
    try:
        alert, instance = adapter.load(alert_id, occurrence)
    except ObjectDoesNotExist:
        logger.warning("Alert %s no longer exists; nothing sent by rule %r", alert_id, rule.name)
        return "no-alert"
    status = status or adapter.get_status(alert)
    if occurrence is None:
        occurrence = adapter.get_occurrence_key(alert)
    delivery = _build(adapter, alert, rule, status, occurrence, instance)
    if delivery is None:
        return "no-template"
    using = router.db_for_write(SlackDelivery)
    with transaction.atomic(using=using):
        new = _insert_new([delivery], using)
    if new:
        return new[0].pk
    recorded = SlackDelivery.objects.filter(idempotency_key=delivery.idempotency_key)
    return recorded.values_list("pk", flat=True).get()
