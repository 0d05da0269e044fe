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

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, router, transaction

from ..adapters import BaseAlertAdapter, MaybeLoaded, get_adapter
from ..models import STATUS_FIRING, STATUS_RESOLVED, SlackDelivery, SlackIntegrationRule
from ..typing import HostAlert, Id
from .message import build_delivery
from .slack_matcher import SlackRuleMatcherService

logger = logging.getLogger(__name__)


def record_alert(
    alert: HostAlert, instance: object = None, status: str | None = None
) -> list[SlackDelivery]:
    """Record one pending delivery per rule that gets ``alert``; the new rows.

    Everything it reads and writes is in a savepoint of the caller's transaction (its own
    transaction in autocommit): the adapter's reads, the match, the INSERT. Raises what
    failed, once the savepoint has rolled back: the caller's transaction goes on.
    """
    using = router.db_for_write(SlackDelivery)
    try:
        with transaction.atomic(using=using):
            return _record(alert, instance, status, using, skip_recorded=False)
    except IntegrityError:
        # Recorded already (the same occurrence signalled again): record the others only.
        with transaction.atomic(using=using):
            return _record(alert, instance, status, using, skip_recorded=True)


def _record(
    alert: HostAlert, instance: object, status: str | None, using: str, *, skip_recorded: bool
) -> list[SlackDelivery]:
    adapter = get_adapter()
    fingerprint = adapter.get_fingerprint(alert)
    status = str(status or adapter.get_status(alert)).lower()
    if status not in (STATUS_FIRING, STATUS_RESOLVED):
        logger.warning("Alert fingerprint=%s has unknown status %r; ignored", fingerprint, status)
        return []
    if adapter.is_silenced(alert):
        logger.debug("Alert fingerprint=%s is silenced; nothing sent", fingerprint)
        return []
    occurrence = adapter.get_occurrence_key(alert, instance)
    deliveries = []
    for rule in SlackRuleMatcherService().find_matching_rules(adapter.get_labels(alert)):
        delivery = _build(adapter, alert, rule, status, occurrence, instance)
        if delivery is not None:
            deliveries.append(delivery)
    if skip_recorded:
        deliveries = _not_recorded(deliveries, using)
    return SlackDelivery.objects.using(using).bulk_create(deliveries)


def _build(
    adapter: BaseAlertAdapter[HostAlert],
    alert: HostAlert,
    rule: SlackIntegrationRule,
    status: str,
    occurrence: str,
    instance: MaybeLoaded,
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


def _not_recorded(deliveries: Sequence[SlackDelivery], using: str) -> list[SlackDelivery]:
    """Those of ``deliveries`` whose key no row holds yet."""
    keys = [delivery.idempotency_key for delivery in deliveries]
    recorded = set(
        SlackDelivery.objects.using(using)
        .filter(idempotency_key__in=keys)
        .values_list("idempotency_key", flat=True)
    )
    return [delivery for delivery in deliveries if delivery.idempotency_key not in recorded]


def record_one(alert_id: Id, rule_id: Id, status: str | None, occurrence: str | None) -> int | str:
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
        new = SlackDelivery.objects.using(using).bulk_create(_not_recorded([delivery], using))
    if new:
        return new[0].pk
    recorded = SlackDelivery.objects.filter(idempotency_key=delivery.idempotency_key)
    return recorded.values_list("pk", flat=True).get()
