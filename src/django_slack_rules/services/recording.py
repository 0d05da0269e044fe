"""Recording a notification: the rule's message for the alert, kept as a delivery row.

:func:`notify` is what the task runs: it finds the rule (from the process's index)
and the alert, renders the message, records the delivery (already claimed when it
can go now) and hands it to :mod:`~django_slack_rules.services.delivery`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, router, transaction
from django.utils import timezone

from ..adapters import NOT_LOADED, BaseAlertAdapter, get_adapter
from ..blocks import blocks_for_message
from ..conf import slack_rules_settings
from ..models import (
    STATUS_FIRING,
    DeliveryState,
    RuleSetVersion,
    SlackDelivery,
    SlackIntegrationRule,
    claiming,
)
from ..rendering import fallback_message, render_template, unescape_slack
from . import conversation, pacing
from .delivery import deliver, send_and_settle
from .slack_matcher import SlackRuleMatcherService

logger = logging.getLogger(__name__)


def notify(
    alert_id: int | str,
    rule_id: int,
    status: str | None,
    occurrence: str | None,
    *,
    retrying: bool = False,
    paced: bool = True,
    version: str | None = None,
) -> str:
    """Render ``rule_id``'s message for ``alert_id``, record it and send it once.

    ``status`` and ``occurrence`` are fixed by the signal handler; when omitted they
    are read from the alert as it is now. ``retrying``: an earlier attempt of this
    notification may have recorded it. ``paced``: False sends without waiting for the
    destination's slot (a task run eagerly cannot wait). ``version``: the rule set's
    version the rule matched at (the handler's). Returns the delivery's state (or
    why there is none: "no-rule", "no-alert", "no-template"); raises :class:`RetryLater`,
    and :class:`~.pacing.WaitForSlot` when the delivery waits for its destination's slot.

    A first attempt on PostgreSQL, in a worker whose index is at ``version``, costs three
    queries: the alert with its occurrence, one statement that takes the destination's
    slot and records the delivery claimed (:mod:`~django_slack_rules.models.claiming`),
    and the outcome. Elsewhere it also reads the rule set's version (and whether any
    destination may be paused), and takes the slot and records the delivery in a
    transaction.
    """
    fixed = status is not None and occurrence is not None
    if fixed and retrying:
        # A retry finds the recorded message and sends it, even if the alert or the
        # rule has been deleted since.
        recorded = find_recorded(rule_id, alert_id, status, occurrence)  # type: ignore[arg-type]
        if recorded is not None:
            return _with_companion(deliver(recorded, paced=paced), recorded, paced)

    using = router.db_for_write(SlackDelivery)
    rule = None
    if fixed and version is not None and claiming.can_insert_claimed(using):
        # The rule as it was when the alert matched, from this process's index: no query.
        rule = SlackRuleMatcherService().cached_rule(rule_id, version)
    at_once = rule is not None  # recorded claimed in one statement, if it may go now
    maybe_paused = False
    if rule is None:
        # One small read: the rule set's version (the rule comes from this process's
        # index) and whether any destination may be paused now.
        state = RuleSetVersion.read(router.db_for_read(SlackIntegrationRule))
        maybe_paused = state is None or (state[1] or 0.0) > time.time()
        if state is not None:
            rule = SlackRuleMatcherService().get_rule(rule_id, state[0])
        if rule is None:  # deactivated since the match (it still sends), or deleted
            rule = SlackIntegrationRule.objects.filter(pk=rule_id).first()
        if rule is None:
            return _recorded_or(fixed, rule_id, alert_id, status, occurrence, "no-rule", paced)
    adapter = get_adapter()
    try:
        alert, instance = adapter.load(alert_id, occurrence)
    except ObjectDoesNotExist:
        return _recorded_or(fixed, rule_id, alert_id, status, occurrence, "no-alert", paced, rule)
    if status is None or occurrence is None:
        # Called without them: read them from the alert as it is now.
        status = status or adapter.get_status(alert)
        occurrence = adapter.get_occurrence_key(alert) if occurrence is None else occurrence
        recorded = find_recorded(rule_id, alert_id, status, occurrence)
        if recorded is not None:
            return _with_companion(deliver(recorded, paced=paced), recorded, paced)
    # A thread reply or an update belongs to the alert's first message: found first.
    parent = None
    if rule.in_conversation(status):
        parent = conversation.find_parent(rule, alert.pk, status, occurrence)
    record = _build(adapter, alert, rule, status, occurrence, instance=instance, parent=parent)
    if record is None:
        return "no-template"
    try:
        return _record_and_send(record, parent, at_once, maybe_paused, paced, using)
    except NotRecorded:
        if at_once:
            # The rule was deleted since the match: as without the version, which reads it.
            return notify(alert_id, rule_id, status, occurrence, retrying=retrying, paced=paced)
        logger.warning(
            "Rule %r, alert %s (fingerprint=%s): not recorded, the rule or the first message "
            "was deleted meanwhile; nothing sent",
            rule.name,
            alert_id,
            record.fingerprint,
        )
        return "no-rule"


def _record_and_send(
    record: SlackDelivery,
    parent: SlackDelivery | None,
    at_once: bool,
    maybe_paused: bool,
    paced: bool,
    using: str,
) -> str:
    """Record ``record`` (claimed when it may go now) and send it, or leave it waiting.
    ``at_once``: try the one-statement claim first. Raises :class:`NotRecorded`."""
    pace = pacing.current() if paced else None
    if at_once and conversation.ready(parent):
        gate = (
            None if pace is None else claiming.Gate(record.channel, pace.interval, pace.tolerance)
        )
        _claimed_by_this_attempt(record)
        try:
            claimed = claiming.insert_claimed(record, using=using, slot=gate, now=time.time())
        except IntegrityError as exc:
            raise NotRecorded(record.idempotency_key) from exc
        if claimed.inserted:
            return _with_companion(send_and_settle(record, paced=paced), record, paced)
        _unclaimed(record)
        if claimed.gate_open:
            # Recorded by an earlier attempt: the slot this attempt took goes to it.
            recorded = _recorded(record.idempotency_key)
            outcome = deliver(recorded, paced=paced, slot_taken=pace is not None)
            return _with_companion(outcome, recorded, paced)
        # No slot now, or a destination may be paused: recorded the usual way, below. With
        # pacing, a pause is in the destination's slot (held while the pause lasts).
        maybe_paused = pace is None
    # No destination is paused (nor a first message unsent): take the destination's slot
    # and record the delivery already claimed, in one INSERT; without a slot, waiting.
    slot = None
    if maybe_paused or not conversation.ready(parent):
        delivery, created = _insert(record)
    elif pace is None:
        slot = pacing.Slot(True)
        _claimed_by_this_attempt(record)
        delivery, created = _insert(record)
    else:
        # The slot and the record commit together: one wait for the disk, not two. A row
        # recorded already (same key) rolls the slot back with it, and is sent as it is.
        try:
            with transaction.atomic(using=using):
                slot = pacing.take(record.channel, pace)
                if slot.granted:
                    _claimed_by_this_attempt(record)
                else:
                    record.waiting_since = timezone.now()
                record.save(force_insert=True, using=using)
            delivery, created = record, True
        except IntegrityError:
            delivery, created, slot = _recorded(record.idempotency_key), False, None
    if created and slot is not None:
        if slot.granted:
            return _with_companion(send_and_settle(delivery, paced=paced), delivery, paced)
        raise pacing.wait_in_line(delivery, slot.next_at, marked=True)
    # Recorded by an earlier attempt (or to wait for its first message or a pause): the
    # slot this attempt took, if any, goes to it.
    taken = slot is not None and slot.granted
    return _with_companion(deliver(delivery, paced=paced, slot_taken=taken), delivery, paced)


def _with_companion(state: str, delivery: SlackDelivery, paced: bool = True) -> str:
    """After a resolution's thread reply (``update_and_reply``), update the first message."""
    with_companion(delivery, paced)
    return state


def with_companion(delivery: SlackDelivery, paced: bool = True) -> None:
    """Send the update that goes with ``delivery``, a resolution's settled thread reply
    (``update_and_reply``), if the rule asks for it. It may wait for its slot."""
    companion = conversation.companion_update(delivery)
    if companion is not None:
        try:
            deliver(companion, paced=paced)
        except pacing.WaitForSlot as waiting:
            if waiting.drain is not None:
                raise


def _recorded_or(
    fixed: bool,
    rule_id: int,
    alert_id: int | str,
    status: str | None,
    occurrence: str | None,
    reason: str,
    paced: bool,
    rule: SlackIntegrationRule | None = None,
) -> str:
    """The rule or the alert is gone: send what an earlier attempt recorded, if any."""
    if fixed:
        recorded = find_recorded(rule_id, alert_id, status, occurrence)  # type: ignore[arg-type]
        if recorded is not None:
            return _with_companion(deliver(recorded, paced=paced), recorded, paced)
    if rule is None:
        logger.warning(
            "Slack rule %s no longer exists; nothing sent for alert %s", rule_id, alert_id
        )
    else:
        logger.warning("Alert %s no longer exists; nothing sent by rule %r", alert_id, rule.name)
    return reason


def record_delivery(
    adapter: BaseAlertAdapter,
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
    record = _build(adapter, alert, rule, status, occurrence, **fields)
    return None if record is None else _insert(record)[0]


def _claimed_by_this_attempt(record: SlackDelivery) -> None:
    """Insert ``record`` claimed (sending, attempt 1), which saves the separate claim."""
    record.state = str(DeliveryState.SENDING)
    record.attempts, record.claimed_at = 1, timezone.now()


def _unclaimed(record: SlackDelivery) -> None:
    """``record`` as before :func:`_claimed_by_this_attempt`: pending, no attempt."""
    record.state = str(DeliveryState.PENDING)
    record.attempts, record.claimed_at = 0, None


def _build(
    adapter: BaseAlertAdapter,
    alert: Any,
    rule: SlackIntegrationRule,
    status: str,
    occurrence: str,
    *,
    instance: Any = NOT_LOADED,
    parent: Any = NOT_LOADED,
    **fields: Any,
) -> SlackDelivery | None:
    """The rule's message for the alert as an unsaved delivery; None without a template.

    ``parent``: the conversation's first message, when the caller has looked for it.
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
    text, blocks, note, context = _render(
        adapter, alert, rule, status, occurrence, template, fingerprint, instance
    )
    channel = rule.resolve_channel(
        adapter.get_labels(alert), default=slack_rules_settings.DEFAULT_CHANNEL
    )
    if rule.in_conversation(status):
        if parent is NOT_LOADED:
            parent = conversation.find_parent(rule, alert_id, status, occurrence)
        if parent is not None or status != STATUS_FIRING:
            # A reply or an update goes where the first message went; without a first
            # message, a resolution is posted, and the record says why.
            fields.update(action=conversation.intended_action(rule, status), parent=parent)
            channel = parent.channel if parent is not None else channel
    return SlackDelivery(
        idempotency_key=key,
        rule=rule,
        rule_name=rule.name,
        alert_id=str(alert_id),
        fingerprint=fingerprint[:255],
        alertname=unescape_slack(str(context.get("alertname") or ""))[:255],
        severity=unescape_slack(str(context.get("severity") or ""))[:64],
        alert_status=status,
        occurrence=str(occurrence)[:255],
        channel=channel,
        text=text,
        blocks=blocks,
        note=note,
        **fields,
    )


def _insert(record: SlackDelivery) -> tuple[SlackDelivery, bool]:
    """INSERT ``record``; or the row an earlier or concurrent attempt inserted first (same
    key), and False.

    Callers have looked for the key already, or expect it to be new. A savepoint only
    inside a transaction; in autocommit the failed INSERT is its own transaction.
    """
    connection = transaction.get_connection(router.db_for_write(SlackDelivery))
    try:
        if connection.in_atomic_block:
            with transaction.atomic(using=connection.alias):
                record.save(force_insert=True, using=connection.alias)
        else:
            record.save(force_insert=True, using=connection.alias)
    except IntegrityError:
        return _recorded(record.idempotency_key), False
    return record, True


class NotRecorded(Exception):
    """An INSERT failed, and no row holds its key: a row it refers to (its rule, or its
    first message) was deleted meanwhile."""


def _recorded(key: str) -> SlackDelivery:
    """The row an earlier attempt recorded with ``key``, after an INSERT failed on it."""
    found = _by_key(key)
    if found is None:
        raise NotRecorded(key)
    return found


def find_recorded(
    rule_id: int, alert_id: int | str, status: str, occurrence: str
) -> SlackDelivery | None:
    return _by_key(SlackDelivery.make_key(rule_id, alert_id, status, occurrence))


def _by_key(key: str) -> SlackDelivery | None:
    return SlackDelivery.objects.filter(idempotency_key=key).first()


def _render(
    adapter: BaseAlertAdapter,
    alert: Any,
    rule: SlackIntegrationRule,
    status: str,
    occurrence: str,
    template: str,
    fingerprint: str,
    instance: Any = NOT_LOADED,
) -> tuple[str, list[Any] | None, str, dict[str, Any]]:
    """The rule's text for the alert, its Block Kit blocks (None without a blocks template,
    or when they fail), a note saying why blocks failed ("" when they did not), and the
    context it rendered with."""
    context: dict[str, Any] = {
        "alertname": str(getattr(alert, "name", "") or ""),
        "status": status,
        "fingerprint": fingerprint,
        "rule": {"name": rule.name},
    }
    try:
        if instance is NOT_LOADED:
            instance = adapter.load_occurrence(alert, occurrence)
        context = adapter.get_context(alert, rule=rule, status=status, instance=instance)
        text = render_template(template, context)
    except Exception:
        logger.exception(
            "Rule %r: the %s message failed to render for fingerprint=%s; "
            "sending a plain fallback message instead. Fix the template in the rule.",
            rule.name,
            status,
            fingerprint,
        )
        return fallback_message(context), None, "", context
    blocks, note = blocks_for_message(rule.blocks_template, context)
    if note and blocks is None:
        logger.warning(
            "Rule %r: %s (fingerprint=%s). Fix the Block Kit template in the rule.",
            rule.name,
            note,
            fingerprint,
        )
    return text, blocks, note, context
