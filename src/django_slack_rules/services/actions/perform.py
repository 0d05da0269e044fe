"""Doing a pending action once: who clicked, may they, the host's change, Slack told.

:func:`run` is what the Celery task runs. It claims the action (a lease, so one worker
does it, and a worker that died leaves it to the next), then decides it:

1. an action this package offers, on a message in the delivery log, whose rule still
   offers it, that the adapter can do, on an alert that still exists;
2. by a Slack user mapped to a host user (:mod:`.users`), whom the adapter's ``can``
   allows;
3. done by the adapter (``acknowledge`` or ``silence``), in the transaction that records
   it as done; the adapter may refuse (``SlackActionRefused``).

Anything short of that refuses the action, and nothing changes. Then Slack is told
(:mod:`.notice`). Slack's and the gateway's passing failures raise :class:`TryLater`.
"""

from __future__ import annotations

import datetime
import logging
import random

from django.core.exceptions import ObjectDoesNotExist
from django.db import router, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext

from ...adapters import BaseAlertAdapter, get_adapter
from ...buttons import ACKNOWLEDGE, SILENCE, action_label, duration_label, silence_seconds
from ...conf import slack_rules_settings
from ...exceptions import SlackActionRefused, SlackDeliveryError, SlackRateLimitedError
from ...models import ActionState, NoticeState, SlackAction
from . import notice
from .offer import adapter_problem
from .users import host_user

logger = logging.getLogger(__name__)

#: How long a worker holds an action (seconds); after that another may take it over.
LEASE = 120.0


class TryLater(Exception):
    """Slack or the gateway failed in a way that can pass: try the action again later."""

    def __init__(self, countdown: float, reason: str) -> None:
        super().__init__(reason)
        self.countdown = countdown


def run(pk: int) -> str:
    """Decide the action ``pk`` and tell Slack; its state, or "taken" when another worker
    holds it (or it is over). Raises :class:`TryLater`."""
    action = claim(pk)
    if action is None:
        return "taken"
    try:
        if action.state == str(ActionState.TAKING):
            decide(action)
        if action.notice_state == str(NoticeState.PENDING):
            tell(action)
    except TryLater as later:
        hold(action, later.countdown, pending=action.state == str(ActionState.TAKING))
        raise
    hold(action, None)
    return str(action.state)


def claim(pk: int) -> SlackAction | None:
    """Take the action for :data:`LEASE` seconds, if it has work left and nobody holds it."""
    now = timezone.now()
    work = Q(state__in=[ActionState.PENDING, ActionState.TAKING]) | Q(
        notice_state=NoticeState.PENDING
    )
    free = Q(held_until__isnull=True) | Q(held_until__lte=now)
    taken = SlackAction.objects.filter(work, free, pk=pk).update(
        held_until=now + datetime.timedelta(seconds=LEASE),
        attempts=F("attempts") + 1,
        state=Case(
            When(state=ActionState.PENDING, then=Value(str(ActionState.TAKING))),
            default=F("state"),
        ),
    )
    if not taken:
        return None
    return SlackAction.objects.select_related("delivery", "delivery__rule").get(pk=pk)


def hold(action: SlackAction, countdown: float | None, *, pending: bool = False) -> None:
    """Let go of the action: for good (``countdown`` None), or until a retry is due."""
    action.held_until = (
        None
        if countdown is None
        else timezone.now() + datetime.timedelta(seconds=max(0.0, countdown - 1.0))
    )
    if pending:
        action.state = str(ActionState.PENDING)
    action.save(update_fields=["held_until", "state"])


def host_name(adapter: BaseAlertAdapter) -> str:
    return str(getattr(adapter, "host_name", "") or gettext("the host"))


def decide(action: SlackAction) -> None:
    """Do the action, or refuse it saying why; record which."""
    adapter = get_adapter()
    host = host_name(adapter)
    delivery = action.delivery
    rule = delivery.rule if delivery is not None else None
    if not action.is_known:
        return settle(
            action,
            ActionState.REFUSED,
            gettext("This button (%(id)s) is not one django-slack-rules offers.")
            % {"id": action.action_id or "?"},
        )
    if delivery is None:
        return settle(
            action,
            ActionState.REFUSED,
            gettext(
                "This message is not in the delivery log any more, so it is not known which "
                "alert it is about. Act on the alert in %(host)s instead."
            )
            % {"host": host},
        )
    if rule is None or action.action not in (rule.actions or []):
        return settle(
            action,
            ActionState.REFUSED,
            gettext("The rule that sent this message no longer offers %(action)s.")
            % {"action": action_label(action.action)},
        )
    problem = adapter_problem(adapter, action.action)
    if problem:
        return settle(
            action,
            ActionState.REFUSED,
            gettext("%(host)s cannot do this here: %(problem)s.")
            % {"host": host, "problem": problem},
        )
    try:
        alert = adapter.get_alert(delivery.alert_id)
    except (ObjectDoesNotExist, ValueError):
        return settle(
            action,
            ActionState.REFUSED,
            gettext("The alert is no longer in %(host)s.") % {"host": host},
        )
    until = None
    if action.action == SILENCE:
        seconds = silence_seconds(action.value)
        if seconds is None:
            return settle(action, ActionState.REFUSED, gettext("That is not a duration offered."))
        until = action.clicked_at + datetime.timedelta(seconds=seconds)
        if until <= timezone.now():
            return settle(
                action,
                ActionState.REFUSED,
                gettext(
                    "The silence would have ended by now (the click waited too long). Click again."
                ),
            )
    try:
        mapped = _with_retry(action, lambda: host_user(action, host))
    except SlackDeliveryError as exc:
        return settle(
            action,
            ActionState.REFUSED,
            gettext("Slack could not be asked who you are (%(error)s). Try again in a moment.")
            % {"error": exc.error or exc.message},
        )
    if mapped.user is None:
        return settle(action, ActionState.REFUSED, mapped.reason)
    if not adapter.can(mapped.user, action.action, alert):  # type: ignore[attr-defined]
        explain = getattr(adapter, "cannot_reason", None)
        why = explain(mapped.user, action.action) if callable(explain) else ""
        return settle(
            action,
            ActionState.REFUSED,
            gettext(
                "Your %(host)s user %(user)s may not %(action)s this alert%(why)s. Fix: ask a "
                "%(host)s admin for the permission."
            )
            % {
                "host": host,
                "user": mapped.user,
                "action": action_label(action.action).lower(),
                "why": f" ({why})" if why else "",
            },
            user=mapped.user,
        )
    act(action, adapter, alert, mapped.user, until)


def act(
    action: SlackAction,
    adapter: BaseAlertAdapter,
    alert: object,
    user: object,
    until: datetime.datetime | None,
) -> None:
    """The adapter's change and the record that it is done, in one transaction."""
    who = f"@{action.slack_user_name}" if action.slack_user_name else action.slack_user_id
    try:
        with transaction.atomic(using=router.db_for_write(SlackAction)):
            if action.action == ACKNOWLEDGE:
                comment = gettext("Acknowledged from Slack by %(who)s.") % {"who": who}
                adapter.acknowledge(alert, user, comment)  # type: ignore[attr-defined]
            else:
                comment = gettext("Silenced from Slack by %(who)s for %(duration)s.") % {
                    "who": who,
                    "duration": duration_label(int(action.value)),
                }
                adapter.silence(alert, user, until, comment)  # type: ignore[attr-defined]
            settle(action, ActionState.DONE, user=user, until=until)
    except SlackActionRefused as exc:
        settle(action, ActionState.REFUSED, str(exc), user=user)
    except Exception as exc:
        logger.exception(
            "The %s of alert %s from Slack failed in the adapter (fingerprint=%s)",
            action.action,
            action.delivery.alert_id if action.delivery else "?",
            action.delivery.fingerprint if action.delivery else "-",
        )
        settle(
            action,
            ActionState.FAILED,
            gettext(
                "%(host)s failed: %(error)s. Nothing was changed; try again, or act in %(host)s."
            )
            % {"host": host_name(adapter), "error": f"{type(exc).__name__}: {exc}"},
            user=user,
        )


def settle(
    action: SlackAction,
    state: object,
    reason: str = "",
    *,
    user: object = None,
    until: datetime.datetime | None = None,
) -> None:
    """Record the outcome; a click that did nothing lets another click act."""
    action.state, action.reason = str(state), reason
    action.user = user  # type: ignore[assignment]
    action.until = until
    action.finished_at = timezone.now()
    action.notice_state = str(NoticeState.PENDING)
    if action.state != str(ActionState.DONE):
        action.effect_key = None
        logger.info("Action %s from Slack (%s) not done: %s", action.pk, action.action, reason)
    action.save(
        update_fields=[
            "state", "reason", "user", "until", "finished_at", "notice_state", "effect_key",
        ]
    )  # fmt: skip


def tell(action: SlackAction) -> None:
    """Tell Slack; record whether it was told."""
    try:
        _with_retry(action, lambda: notice.tell(action))
    except notice.Skipped as skipped:
        action.notice_state, action.notice_error = str(NoticeState.SKIPPED), str(skipped)
    except SlackDeliveryError as exc:
        action.notice_state, action.notice_error = str(NoticeState.FAILED), str(exc)
        logger.warning("Could not tell Slack how action %s ended: %s", action.pk, exc)
    else:
        action.notice_state, action.notice_error = str(NoticeState.SENT), ""
    action.save(update_fields=["notice_state", "notice_error"])


def _with_retry(action: SlackAction, call):  # type: ignore[no-untyped-def]
    """``call()``; a passing failure of Slack or the gateway becomes :class:`TryLater` while
    attempts are left (``SLACK_RULES["MAX_ATTEMPTS"]``), else it is raised as it is."""
    try:
        return call()
    except SlackDeliveryError as exc:
        if not exc.retryable or action.attempts >= slack_rules_settings.MAX_ATTEMPTS:
            raise
        raise TryLater(backoff(action.attempts, exc), str(exc)) from exc


def backoff(attempt: int, error: SlackDeliveryError) -> float:
    """Slack's Retry-After, else exponential backoff with jitter (as for deliveries)."""
    if isinstance(error, SlackRateLimitedError) and error.retry_after is not None:
        return error.retry_after
    base = slack_rules_settings.RETRY_BACKOFF_BASE * 2 ** max(0, attempt - 1)
    return min(slack_rules_settings.RETRY_BACKOFF_MAX, base * random.uniform(0.8, 1.2))
