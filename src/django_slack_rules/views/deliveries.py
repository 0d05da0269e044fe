"""The delivery log, and resending what failed."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import ListView
from django.views.generic.base import View

from ..conf import slack_rules_settings
from ..forms import DeliveryFilterForm
from ..hints import hint_for, hop_for
from ..models import STATUS_DIGEST, SlackAction, SlackDelivery
from ..services import pacing, status
from ..services.claim import RESENDABLE_STATES
from ..services.test_send import TEST_STATUS
from ..tasks import resend_deliveries
from .base import (
    APP,
    CHANGE_DELIVERY,
    VIEW_DELIVERY,
    ClampedPaginationMixin,
    SlackRulesPageMixin,
    get_ordering_key,
    sort_directions,
)

DELIVERY_ORDERINGS: dict[str, tuple[str, ...]] = {
    "-created": ("-created_at", "-pk"),
    "created": ("created_at", "pk"),
    "state": ("state", "-created_at"),
    "-state": ("-state", "-created_at"),
    "channel": ("channel", "-created_at"),
    "-channel": ("-channel", "-created_at"),
    "rule": ("rule_name", "-created_at"),
    "-rule": ("-rule_name", "-created_at"),
}


class DeliveryListView(ClampedPaginationMixin, SlackRulesPageMixin, ListView):
    model = SlackDelivery
    permission_required = VIEW_DELIVERY
    paginate_by = 50
    template_name = "django_slack_rules/slackdelivery_list.html"
    page_title = _("Delivery log")
    section = "deliveries"

    def get_queryset(self) -> QuerySet[SlackDelivery]:
        """Conversations: each first message with its thread replies and updates under it.

        A filter keeps a conversation when its first message or one of its follow-ups
        matches; the whole conversation is shown.
        """
        ordering = DELIVERY_ORDERINGS[
            get_ordering_key(self.request, DELIVERY_ORDERINGS, "-created")
        ]
        followups = SlackDelivery.objects.order_by("created_at", "pk")
        queryset = (
            SlackDelivery.objects.filter(parent__isnull=True)
            .order_by(*ordering)
            .prefetch_related(Prefetch("followups", queryset=followups))
        )
        self.filter_form = DeliveryFilterForm(self.request.GET or None)
        # Each valid filter applies; an invalid one is shown as an error beside its control.
        data = self.filter_form.valid_filters()
        wanted = Q()
        if "state" in data:
            wanted &= Q(state=data["state"])
        if "rule" in data:
            wanted &= Q(rule=data["rule"])
        if "rule_name" in data:
            wanted &= Q(rule_name__icontains=str(data["rule_name"]).strip())
        if "channel" in data:
            wanted &= Q(channel=str(data["channel"]).strip())
        if "alert" in data:
            wanted &= Q(alert_id=str(data["alert"]).strip())
        if "digest" in data:
            wanted &= Q(digest=data["digest"]) | Q(pk=data["digest"], alert_status=STATUS_DIGEST)
        if wanted:
            in_thread = SlackDelivery.objects.filter(wanted, parent=OuterRef("pk"))
            queryset = queryset.annotate(followup_matches=Exists(in_thread)).filter(
                wanted | Q(followup_matches=True)
            )
        else:
            # A storm's folded deliveries are listed under their digest, not as rows of their
            # own (a filter, e.g. ?digest=N or a state, still shows them as rows).
            queryset = queryset.filter(digest__isnull=True)
        return queryset

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        # Any: its object_list (the page's deliveries) gets display attributes the model does
        # not declare (clicks, fan_out, folded_shown...).
        context: dict[str, Any] = super().get_context_data(**kwargs)
        for root in context["object_list"]:
            for delivery in (root, *root.followups.all()):
                delivery.is_digest = delivery.alert_status == STATUS_DIGEST
                delivery.resendable = delivery.state in RESENDABLE_STATES
                failed = delivery.state in RESENDABLE_STATES
                delivery.hop = hop_for(delivery.failure_reason) if failed else ""
                delivery.hint = (
                    hint_for(delivery.slack_error, delivery.http_status, delivery.failure_reason)
                    if failed
                    else ""
                )
        mark_fan_out(context["object_list"])
        mark_folded(context["object_list"])
        stray_actions = mark_actions(context["object_list"])
        # Where a resend comes back to: this list without its page, which may be gone by then.
        query = self.request.GET.copy()
        query.pop("page", None)
        encoded = query.urlencode()
        context.update(
            filter_form=self.filter_form,
            filtered=any(self.request.GET.get(k) for k in DeliveryFilterForm.FIELDS),
            ordering=get_ordering_key(self.request, DELIVERY_ORDERINGS, "-created"),
            sort_directions=sort_directions(DELIVERY_ORDERINGS),
            current_url=self.request.path + (f"?{encoded}" if encoded else ""),
            busy_destinations=status.destinations(),
            pace=pacing.current(),
            digest_after=slack_rules_settings.DIGEST_AFTER,
            stray_actions=stray_actions,
        )
        return context


#: How far back the log lists clicks on messages it does not have, and how many at most.
STRAY_ACTIONS_DAYS, STRAY_ACTIONS_SHOWN = 7, 20


# Any: in these three, the page's deliveries, given attributes the model does not declare.
def mark_actions(deliveries: Any) -> list[SlackAction]:
    """Give each delivery on the page ``clicks``: the clicks on its buttons, oldest first;
    return the recent clicks on messages the log does not have (newest first). One query."""
    for delivery in deliveries:
        delivery.clicks = []
    by_id = {delivery.pk: delivery for delivery in deliveries}
    since = timezone.now() - datetime.timedelta(days=STRAY_ACTIONS_DAYS)
    found = (
        SlackAction.objects.filter(
            Q(delivery_id__in=list(by_id)) | Q(delivery__isnull=True, created_at__gte=since)
        )
        .select_related("user")
        .order_by("created_at", "pk")
    )
    stray = []
    for action in found:
        action.channel_name = ""  # the log names channels as the rules do: #name
        if action.delivery_id is None:
            stray.append(action)
        else:
            by_id[action.delivery_id].clicks.append(action)
            action.channel_name = by_id[action.delivery_id].channel
    return stray[::-1][:STRAY_ACTIONS_SHOWN]


#: How many of a digest's folded deliveries the log lists under it (all: ``?digest=N``).
FOLDED_SHOWN = 20


def mark_folded(deliveries: Any) -> None:
    """Give each digest on the page ``folded_count`` (how many deliveries it folded) and
    ``folded_shown`` (the first :data:`FOLDED_SHOWN` of them, oldest first): two queries for the
    page, however many each digest folded."""
    digests = [d for d in deliveries if d.alert_status == STATUS_DIGEST]
    for delivery in digests:
        delivery.folded_count, delivery.folded_shown = 0, []
    if not digests:
        return
    by_pk = {d.pk: d for d in digests}
    mine = SlackDelivery.objects.filter(digest__in=digests)
    for pk, count in mine.order_by().values_list("digest").annotate(n=Count("pk")):
        by_pk[pk].folded_count = count
    first = (
        mine.annotate(
            n=Window(RowNumber(), partition_by=[F("digest")], order_by=[F("created_at"), F("pk")])
        )
        .filter(n__lte=FOLDED_SHOWN)
        .only("pk", "digest", "alertname", "fingerprint", "text", "created_at")
        .order_by("created_at", "pk")
    )
    for folded in first:
        by_pk[folded.digest_id].folded_shown.append(folded)


def mark_fan_out(deliveries: Any) -> None:
    """Give each delivery ``fan_out``: the other deliveries of the same notification (alert,
    status, occurrence) that other rules sent, when one alert went to several rules. One
    query for the page."""
    page = [d for d in deliveries if d.alert_status not in (TEST_STATUS, STATUS_DIGEST)]
    for delivery in deliveries:
        delivery.fan_out = []
    if not page:
        return
    wanted = Q()
    for key in {(d.alert_id, d.alert_status, d.occurrence) for d in page}:
        wanted |= Q(alert_id=key[0], alert_status=key[1], occurrence=key[2])
    groups: dict[tuple[str, str, str], list[SlackDelivery]] = {}
    for other in (
        SlackDelivery.objects.filter(wanted)
        .only("pk", "alert_id", "alert_status", "occurrence", "rule_name", "channel", "state")
        .order_by("created_at", "pk")
    ):
        groups.setdefault((other.alert_id, other.alert_status, other.occurrence), []).append(other)
    for delivery in page:
        group = groups.get((delivery.alert_id, delivery.alert_status, delivery.occurrence), [])
        delivery.fan_out = [other for other in group if other.pk != delivery.pk]


class DeliveryResendView(PermissionRequiredMixin, View):
    """Queue failed or cancelled deliveries again (POST ``delivery`` ids)."""

    permission_required = CHANGE_DELIVERY
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        ids = [value for value in request.POST.getlist("delivery") if value.isdigit()]
        chosen = SlackDelivery.objects.filter(pk__in=ids)
        count = resend_deliveries(chosen)
        if count:
            messages.success(
                request,
                ngettext(
                    "%(count)d delivery queued again.", "%(count)d deliveries queued again.", count
                )
                % {"count": count},
            )
        else:
            messages.warning(
                request,
                gettext("Nothing queued: only failed or cancelled deliveries can be resent."),
            )
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse(f"{APP}:delivery-list")
        return HttpResponseRedirect(target)
