"""Digests: in a storm, one message for the deliveries waiting for a destination.

:func:`fold` records a digest (a delivery of its own, ``alert_status`` "digest", already
claimed by the drain that sends it) and folds the chosen waiting deliveries into it, in
one transaction. Each folded delivery becomes ``digested`` and points at the digest; the
UPDATE takes only rows still waiting, so none is folded twice, nor folded and sent. The
digest's text is written from the rows it did fold:

- how many, by status, and by alert name and severity;
- the first line of the first messages, and "+N more";
- a link to the delivery log filtered to the digest (``SLACK_RULES["SITE_URL"]``).

Mentions in the quoted lines (``<!here>``, ``<!channel>``, ``<@U…>``) are shown as text: a
storm would otherwise ping the channel with every digest. A rule that must ping for each
alert opts out of digests.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import router, transaction
from django.db.models import Count
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from ..conf import slack_rules_settings
from ..models import STATUS_DIGEST, DeliveryState, SlackDelivery
from ..rendering.templates import escape_slack
from .pacing import waiting

logger = logging.getLogger(__name__)

#: How many deliveries one UPDATE folds (SQLite allows few parameters per statement).
CHUNK = 500
#: The most deliveries one digest folds; more wait for the next slot's digest.
MAX_FOLD = 5000
#: Quoted lines, their width, and the (alert name, severity) counts shown.
FIRST_LINES = 10
LINE_WIDTH = 150
TOP_ALERTS = 8

TIMES = "\N{MULTIPLICATION SIGN}"

_SPECIAL_MENTION = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_GROUP_MENTION = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>")
_USER_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_OPEN_MARKUP = re.compile(r"<[^>]*$|&[a-z]{0,3}$")


@dataclass
class Summary:
    """What a digest folded."""

    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_alert: dict[tuple[str, str], int] = field(default_factory=dict)
    rules: dict[int | None, str] = field(default_factory=dict)
    first_lines: list[str] = field(default_factory=list)


def fold(destination: str, ids: Sequence[int]) -> tuple[SlackDelivery, int] | None:
    """Record a digest for ``destination`` and fold the deliveries ``ids`` (those still
    waiting) into it: the digest, claimed and ready to send, and how many it folded; None
    when none was waiting any more."""
    now = timezone.now()
    using = router.db_for_write(SlackDelivery)
    with transaction.atomic(using=using):
        digest = SlackDelivery.objects.create(
            idempotency_key=f"{STATUS_DIGEST}:{uuid.uuid4().hex}",
            alert_id=STATUS_DIGEST,
            alert_status=STATUS_DIGEST,
            channel=destination,
            state=DeliveryState.SENDING,
            attempts=1,
            claimed_at=now,
        )
        folded = 0
        for start in range(0, len(ids), CHUNK):
            folded += (
                waiting(destination)
                .filter(pk__in=ids[start : start + CHUNK])
                .update(
                    state=DeliveryState.DIGESTED, digest=digest, waiting_since=None, updated_at=now
                )
            )
        if not folded:
            transaction.set_rollback(True, using=using)
            return None
        summary = summarize(digest)
        digest.text = digest_text(destination, summary, link(digest.pk), digest.pk)
        rule_ids = [pk for pk in summary.rules if pk is not None]
        if len(summary.rules) == 1 and rule_ids:  # one rule's alerts: the digest is the rule's
            digest.rule_id = rule_ids[0]
        digest.rule_name = ", ".join(sorted(filter(None, summary.rules.values())))[:255]
        digest.alertname = _only(key[0] for key in summary.by_alert)[:255]
        digest.severity = _only(key[1] for key in summary.by_alert)[:64]
        digest.save(update_fields=["text", "rule", "rule_name", "alertname", "severity"])
    return digest, summary.total


def _only(values: Iterable[str]) -> str:
    """The one value, when all are the same; else ""."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else ""


def summarize(digest: SlackDelivery) -> Summary:
    """Count what ``digest`` folded, and quote the first lines (two queries)."""
    summary = Summary()
    folded = SlackDelivery.objects.filter(digest=digest)
    groups = (
        folded.order_by()
        .values_list("alert_status", "alertname", "severity", "rule_id", "rule_name")
        .annotate(n=Count("pk"))
    )
    for status, alertname, severity, rule_id, rule_name, n in groups:
        summary.total += n
        summary.by_status[status] = summary.by_status.get(status, 0) + n
        key = (alertname, severity)
        summary.by_alert[key] = summary.by_alert.get(key, 0) + n
        summary.rules[rule_id] = rule_name
    texts = folded.order_by("created_at", "pk").values_list("text", flat=True)[:FIRST_LINES]
    summary.first_lines = [first_line(text) for text in texts]
    return summary


def first_line(text: str) -> str:
    """The first non-empty line of a message, mentions as text, at most LINE_WIDTH long
    (never cut inside a link or an entity)."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = _SPECIAL_MENTION.sub(r"@\1", line)
    line = _GROUP_MENTION.sub(lambda m: m.group(1) or "@group", line)
    line = _USER_MENTION.sub(r"@\1", line)
    if len(line) > LINE_WIDTH:
        line = _OPEN_MARKUP.sub("", line[:LINE_WIDTH]).rstrip() + "…"
    return line


def link(pk: int) -> str:
    """The absolute URL of the delivery log filtered to digest ``pk``; "" without one."""
    site = slack_rules_settings.SITE_URL.rstrip("/")
    if not site or not getattr(settings, "ROOT_URLCONF", None):  # a worker without pages
        return ""
    try:
        path = reverse("django_slack_rules:delivery-list")
    except NoReverseMatch:  # the rule pages are not mounted
        return ""
    return f"{site}{path}?digest={pk}"


def digest_text(destination: str, summary: Summary, url: str, pk: int) -> str:
    """The digest's message (Slack mrkdwn; values from alerts escaped)."""
    lines = [
        ngettext(
            ":package: *%(count)s alert for %(channel)s, in one message*",
            ":package: *%(count)s alerts for %(channel)s, in one message*",
            summary.total,
        )
        % {"count": f"{summary.total:,}", "channel": escape_slack(destination)},
        gettext("They came faster than Slack takes messages for the channel."),
        " · ".join(
            f"{n:,} {escape_slack(status)}"
            for status, n in sorted(summary.by_status.items(), key=lambda item: -item[1])
        ),
    ]
    ranked = sorted(summary.by_alert.items(), key=lambda item: (-item[1], item[0]))
    kinds = [
        f"{escape_slack(name or '?')}{f' ({escape_slack(severity)})' if severity else ''}"
        f" {TIMES}{n:,}"
        for (name, severity), n in ranked[:TOP_ALERTS]
    ]
    if len(ranked) > TOP_ALERTS:
        kinds.append(gettext("%(count)s other kinds") % {"count": f"{len(ranked) - TOP_ALERTS:,}"})
    lines.append(" · ".join(kinds))
    lines.extend(f"• {line}" for line in summary.first_lines)
    more = summary.total - len(summary.first_lines)
    if more > 0:
        lines.append(gettext("+%(count)s more") % {"count": f"{more:,}"})
    if url:
        lines.append(
            "<%s|%s>" % (url, gettext("Every alert of this digest in the delivery log"))  # noqa: UP031
        )
    else:
        lines.append(gettext("Digest #%(pk)s in the delivery log.") % {"pk": pk})
    return "\n".join(lines)
