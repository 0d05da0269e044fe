"""The rule pages: list, create, edit, delete, preview and test send, match tester, deliveries.

Every page needs a logged-in user with the model permission it names (anonymous users
are sent to ``LOGIN_URL``; others get 403) and renders inside
``SLACK_RULES["BASE_TEMPLATE"]`` through ``django_slack_rules/page.html``.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.contrib.messages.views import SuccessMessageMixin
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse, reverse_lazy
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import CreateView, DeleteView, FormView, ListView, UpdateView
from django.views.generic.base import ContextMixin, View

from .adapters import CONTEXT_KEYS
from .conf import slack_rules_settings
from .forms import (
    DeliveryFilterForm,
    MatchTesterForm,
    SampleAlertForm,
    SlackIntegrationRuleForm,
)
from .models import STATUS_FIRING, STATUS_RESOLVED, SlackDelivery, SlackIntegrationRule
from .rendering import stray_markup
from .services.deliveries import (
    RESENDABLE_STATES,
    TestSendOutcome,
    hint_for,
    resend_deliveries,
    send_test_message,
    with_last_delivery,
)
from .services.preview import SAMPLE_ANNOTATIONS, preview_message, sample_labels
from .services.slack_matcher import SlackRuleMatcherService, criteria_mismatches
from .services.slack_service import get_backend

APP = "django_slack_rules"
VIEW_RULE = f"{APP}.view_slackintegrationrule"
ADD_RULE = f"{APP}.add_slackintegrationrule"
CHANGE_RULE = f"{APP}.change_slackintegrationrule"
DELETE_RULE = f"{APP}.delete_slackintegrationrule"
VIEW_DELIVERY = f"{APP}.view_slackdelivery"
CHANGE_DELIVERY = f"{APP}.change_slackdelivery"

RULE_ORDERINGS: dict[str, tuple[str, ...]] = {
    "priority": ("-priority", "name"),
    "-priority": ("priority", "-name"),
    "name": ("name",),
    "-name": ("-name",),
    "channel": ("slack_channel", "name"),
    "-channel": ("-slack_channel", "name"),
    "updated": ("updated_at", "name"),
    "-updated": ("-updated_at", "name"),
}
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


class SlackRulesPageMixin(PermissionRequiredMixin, ContextMixin):
    """Login and a permission (anonymous → login page, without it → 403); the page context."""

    request: HttpRequest
    page_title: Any = ""
    #: The end of every page's <title>: "Delivery log · Slack rules".
    site_title: Any = _("Slack rules")
    section = "rules"  # the highlighted tab: rules, match or deliveries

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context.update(
            slack_rules_base_template=slack_rules_settings.BASE_TEMPLATE,
            page_title=self.page_title,
            dsr_site_title=self.site_title,
            dsr_section=self.section,
            slack_rules_perms={
                "view_rule": user.has_perm(VIEW_RULE),
                "add_rule": user.has_perm(ADD_RULE),
                "change_rule": user.has_perm(CHANGE_RULE),
                "delete_rule": user.has_perm(DELETE_RULE),
                "view_delivery": user.has_perm(VIEW_DELIVERY),
                "change_delivery": user.has_perm(CHANGE_DELIVERY),
            },
        )
        return context


def _ordering(request: HttpRequest, choices: dict[str, tuple[str, ...]], default: str) -> str:
    value = request.GET.get("ordering", default)
    return value if value in choices else default


def _sort_directions(choices: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Each ordering key's direction, for ``aria-sort``: its first field says it."""
    return {
        key: "descending" if fields[0].startswith("-") else "ascending"
        for key, fields in choices.items()
    }


class ClampedPaginationMixin:
    """A page number past the end shows the last page (and a bad one the first), never a 404.

    After a resend or a delete the last page may be gone; a bookmark may be stale.
    """

    request: HttpRequest
    kwargs: dict[str, Any]
    page_kwarg = "page"

    def paginate_queryset(self, queryset: Any, page_size: int) -> tuple[Any, Any, Any, bool]:
        paginator = self.get_paginator(  # type: ignore[attr-defined]
            queryset,
            page_size,
            orphans=self.get_paginate_orphans(),  # type: ignore[attr-defined]
            allow_empty_first_page=self.get_allow_empty(),  # type: ignore[attr-defined]
        )
        number = self.kwargs.get(self.page_kwarg) or self.request.GET.get(self.page_kwarg) or 1
        if number == "last":
            number = paginator.num_pages
        page = paginator.get_page(number)
        return paginator, page, page.object_list, page.has_other_pages()


class RuleListView(ClampedPaginationMixin, SlackRulesPageMixin, ListView):
    model = SlackIntegrationRule
    permission_required = VIEW_RULE
    paginate_by = 25
    page_title = _("Slack rules")

    def get_queryset(self) -> QuerySet[SlackIntegrationRule]:
        ordering = RULE_ORDERINGS[_ordering(self.request, RULE_ORDERINGS, "priority")]
        return with_last_delivery(SlackIntegrationRule.objects.order_by(*ordering))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["ordering"] = _ordering(self.request, RULE_ORDERINGS, "priority")
        context["sort_directions"] = _sort_directions(RULE_ORDERINGS)
        return context


class RuleStillThereMixin:
    """A POST for a rule deleted meanwhile (in another tab) goes back to the list, and says so."""

    kwargs: dict[str, Any]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not SlackIntegrationRule.objects.filter(pk=self.kwargs["pk"]).exists():
            return self.rule_gone(request)
        return super().post(request, *args, **kwargs)  # type: ignore[misc]

    def rule_gone(self, request: HttpRequest) -> HttpResponse:
        messages.warning(
            request,
            gettext("Rule #%(pk)s was deleted meanwhile; nothing was saved or sent.")
            % {"pk": self.kwargs["pk"]},
        )
        return HttpResponseRedirect(reverse(f"{APP}:rule-list"))


class RuleFormMixin(SuccessMessageMixin, SlackRulesPageMixin):
    model = SlackIntegrationRule

    def get_success_url(self) -> str:
        obj = self.object  # type: ignore[attr-defined]
        if "_preview" in self.request.POST:
            return reverse(f"{APP}:rule-preview", args=[obj.pk])
        return reverse(f"{APP}:rule-list")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["context_keys"] = CONTEXT_KEYS
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        # Not an error: Django sends "{{ alertname }" as typed. Said once, after saving.
        for name in ("message_template", "resolved_message_template"):
            stray = stray_markup(form.cleaned_data.get(name) or "")
            if stray:
                messages.warning(
                    self.request,
                    format_html(
                        "{}: {} {} {}",
                        form.fields[name].label,
                        gettext(
                            "Django does not read this as a variable or a tag, so it is sent as typed:"
                        ),
                        format_html_join(", ", "<code>{}</code>", ((line,) for line in stray)),
                        gettext("(a missing brace or %?)"),
                    ),
                )
        return response


class RuleCreateView(RuleFormMixin, CreateView):
    form_class = SlackIntegrationRuleForm
    permission_required = ADD_RULE
    page_title = _("New Slack rule")
    success_message = _("Rule “%(name)s” created.")


class RuleUpdateView(RuleStillThereMixin, RuleFormMixin, UpdateView):
    form_class = SlackIntegrationRuleForm
    permission_required = CHANGE_RULE
    page_title = _("Edit Slack rule")
    success_message = _("Rule “%(name)s” saved.")

    def form_valid(self, form: Any) -> HttpResponse:
        try:
            with transaction.atomic():  # a savepoint under ATOMIC_REQUESTS
                return super().form_valid(form)
        except DatabaseError:
            # Deleted after the check in post(): the form only updates, so nothing is re-created.
            if SlackIntegrationRule.objects.filter(pk=self.kwargs["pk"]).exists():
                raise
            return self.rule_gone(self.request)


class RuleDeleteView(RuleStillThereMixin, SuccessMessageMixin, SlackRulesPageMixin, DeleteView):
    model = SlackIntegrationRule
    permission_required = DELETE_RULE
    page_title = _("Delete Slack rule")
    success_url = reverse_lazy(f"{APP}:rule-list")

    def get_success_message(self, cleaned_data: dict[str, Any]) -> str:
        return gettext("Rule “%(name)s” deleted.") % {"name": self.object.name}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["delivery_count"] = self.object.deliveries.count()
        return context


def _endpoint_target() -> str:
    """Where the configured backend sends, for display: host:port only, never the URL."""
    try:
        backend = get_backend()
    except ImproperlyConfigured as exc:
        return gettext("not configured: %(problem)s") % {"problem": exc}
    target = getattr(backend, "target", "")
    name = type(backend).__name__
    return f"{name} → {target}" if target else name


def _json_query(value: Any) -> Any:
    """A JSON object from the query string, or None."""
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _outcome_message(outcome: TestSendOutcome, log_url: str) -> tuple[int, str]:
    """The level and text of the message that reports a test send."""
    # Translations keep the named {placeholders}; format_html escapes what fills them.
    if outcome.sent:
        return messages.SUCCESS, format_html(
            gettext(
                'Sent to <code>{channel}</code>. It is in the <a href="{url}">delivery log</a> '
                "as a test."
            ),
            channel=outcome.channel,
            url=log_url,
        )
    return messages.ERROR, format_html(
        '<div class="fw-semibold">{}{}{}</div><div class="small">{}</div>{}{}',
        format_html(gettext("Not sent to <code>{channel}</code>"), channel=outcome.channel),
        format_html(
            ": {}", format_html(gettext("Slack's error <code>{error}</code>"), error=outcome.error)
        )
        if outcome.error
        else "",
        format_html(" (HTTP {})", outcome.status_code) if outcome.status_code else "",
        outcome.detail,
        format_html(
            '<div class="small mt-1"><strong>{}</strong> {}</div>',
            gettext("What to do:"),
            outcome.hint,
        )
        if outcome.hint
        else "",
        format_html(
            '<div class="small mt-1">{}</div>',
            format_html(
                gettext('It is in the <a href="{url}">delivery log</a>, where it can be resent.'),
                url=log_url,
            ),
        )
        if outcome.delivery is not None
        else "",
    )


class RulePreviewView(RuleStillThereMixin, SlackRulesPageMixin, FormView):
    """Render a rule's message for a sample alert; "Test send" sends it to the rule's channel.

    A test send redirects (POST/redirect/GET) to the preview of the same sample, with the
    outcome as a message, so reloading the page does not send again.
    """

    form_class = SampleAlertForm
    permission_required = VIEW_RULE
    template_name = "django_slack_rules/slackintegrationrule_preview.html"
    page_title = _("Preview")

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        self.object: SlackIntegrationRule | None = None

    def get_rule(self) -> SlackIntegrationRule:
        if self.object is None:
            self.object = get_object_or_404(SlackIntegrationRule, pk=self.kwargs["pk"])
        return self.object

    def get_initial(self) -> dict[str, Any]:
        # The sample comes from the query string when there is one (the match tester's
        # link, the redirect after a test send), else it is one the rule matches.
        query = self.request.GET
        labels = _json_query(query.get("labels"))
        annotations = _json_query(query.get("annotations"))
        status = query.get("status")
        return {
            "labels": sample_labels(self.get_rule()) if labels is None else labels,
            "annotations": SAMPLE_ANNOTATIONS if annotations is None else annotations,
            "status": status if status in (STATUS_FIRING, STATUS_RESOLVED) else STATUS_FIRING,
        }

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Bound to the sample, so the page opens with its preview already rendered.
        initial = self.get_initial()
        data = {
            "labels": json.dumps(initial["labels"], indent=2, ensure_ascii=False),
            "annotations": json.dumps(initial["annotations"], indent=2, ensure_ascii=False),
            "status": initial["status"],
        }
        form = self.get_form_class()(data=data)
        return self.render_to_response(self.get_context_data(form=form))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if "send" in request.POST and not request.user.has_perm(CHANGE_RULE):
            raise PermissionDenied("Test send needs the permission to change the rule.")
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        if "send" not in self.request.POST:
            return self.render_to_response(self.get_context_data(form=form))
        rule = self.get_rule()
        data = form.cleaned_data
        annotations = data["annotations"] or {}
        preview = preview_message(rule, data["labels"], annotations, data["status"])
        if preview.sends:
            outcome = send_test_message(rule, preview.channel, preview.text)
            log_url = reverse(f"{APP}:delivery-list") + "?" + urlencode({"rule": rule.pk})
            level, text = _outcome_message(outcome, log_url)
            messages.add_message(self.request, level, text, extra_tags="dsr-outcome")
        else:
            messages.warning(
                self.request,
                gettext("Nothing sent: the rule has no template for %(status)s alerts.")
                % {"status": preview.status},
                extra_tags="dsr-outcome",
            )
        sample = {
            "labels": json.dumps(data["labels"], ensure_ascii=False, separators=(",", ":")),
            "annotations": json.dumps(annotations, ensure_ascii=False, separators=(",", ":")),
            "status": data["status"],
        }
        target = reverse(f"{APP}:rule-preview", args=[rule.pk]) + "?" + urlencode(sample)
        return HttpResponseRedirect(target)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        rule = self.get_rule()
        form = context["form"]
        context["rule"] = context["object"] = rule
        context["page_title"] = gettext("Preview: %(name)s") % {"name": rule.name}
        if form.is_bound and form.is_valid():
            context["preview"] = preview_message(
                rule,
                form.cleaned_data["labels"],
                form.cleaned_data["annotations"] or {},
                form.cleaned_data["status"],
            )
            context["context_json"] = json.dumps(
                context["preview"].context, indent=2, default=str, ensure_ascii=False
            )
        context["backend_target"] = _endpoint_target()
        return context


class MatchTesterView(SlackRulesPageMixin, FormView):
    """Paste labels: which active rule wins, the candidates in order, and why others do not."""

    form_class = MatchTesterForm
    permission_required = VIEW_RULE
    template_name = "django_slack_rules/match_tester.html"
    page_title = _("Match tester")
    section = "match"
    #: How many of the rules that do not match are listed, with their reasons.
    others_shown = 50

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        if "labels" in self.request.GET:
            kwargs["data"] = self.request.GET
        return kwargs

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = self.get_form()
        context = self.get_context_data(form=form)
        if form.is_bound and form.is_valid():
            context.update(self.explain(form.cleaned_data["labels"]))
        return self.render_to_response(context)

    def explain(self, labels: dict[str, Any]) -> dict[str, Any]:
        labels = {str(k): str(v) for k, v in labels.items() if v is not None}
        candidates = SlackRuleMatcherService().explain(labels)
        rest = SlackIntegrationRule.objects.exclude(pk__in=[rule.pk for rule in candidates])
        rest = rest.order_by("-priority", "name")
        # The reasons are worked out for the rules shown only; the rest is a count.
        others = [
            {
                "rule": rule,
                "mismatches": criteria_mismatches(rule.match_criteria, labels),
                "inactive": not rule.is_active,
            }
            for rule in rest[: self.others_shown]
        ]
        others_total = len(others) if len(others) < self.others_shown else rest.count()
        winner = candidates[0] if candidates else None
        return {
            "tested": True,
            "labels_json": json.dumps(labels, ensure_ascii=False),
            "winner": winner,
            "winner_channel": winner.resolve_channel(labels) if winner else "",
            "candidates": candidates,
            "others": others,
            "others_total": others_total,
            "others_more": others_total - len(others),
        }


class DeliveryListView(ClampedPaginationMixin, SlackRulesPageMixin, ListView):
    model = SlackDelivery
    permission_required = VIEW_DELIVERY
    paginate_by = 50
    template_name = "django_slack_rules/slackdelivery_list.html"
    page_title = _("Delivery log")
    section = "deliveries"

    def get_queryset(self) -> QuerySet[SlackDelivery]:
        ordering = DELIVERY_ORDERINGS[_ordering(self.request, DELIVERY_ORDERINGS, "-created")]
        queryset = SlackDelivery.objects.order_by(*ordering)
        self.filter_form = DeliveryFilterForm(self.request.GET or None)
        # Each valid filter applies; an invalid one is shown as an error beside its control.
        data = self.filter_form.valid_filters()
        if "state" in data:
            queryset = queryset.filter(state=data["state"])
        if "rule" in data:
            queryset = queryset.filter(rule=data["rule"])
        if "rule_name" in data:
            queryset = queryset.filter(rule_name__icontains=data["rule_name"].strip())
        if "channel" in data:
            queryset = queryset.filter(channel=data["channel"].strip())
        return queryset

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        for delivery in context["object_list"]:
            delivery.resendable = delivery.state in RESENDABLE_STATES
            delivery.hint = (
                hint_for(delivery.slack_error, delivery.http_status)
                if delivery.state in RESENDABLE_STATES
                else ""
            )
        # Where a resend comes back to: this list without its page, which may be gone by then.
        query = self.request.GET.copy()
        query.pop("page", None)
        encoded = query.urlencode()
        context.update(
            filter_form=self.filter_form,
            filtered=any(self.request.GET.get(k) for k in DeliveryFilterForm.FIELDS),
            ordering=_ordering(self.request, DELIVERY_ORDERINGS, "-created"),
            sort_directions=_sort_directions(DELIVERY_ORDERINGS),
            current_url=self.request.path + (f"?{encoded}" if encoded else ""),
        )
        return context


class DeliveryResendView(PermissionRequiredMixin, View):
    """Queue failed or cancelled deliveries again (POST ``delivery`` ids)."""

    permission_required = CHANGE_DELIVERY
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ids = [value for value in request.POST.getlist("delivery") if value.isdigit()]
        count = resend_deliveries(SlackDelivery.objects.filter(pk__in=ids))
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


__all__ = [
    "DeliveryListView",
    "DeliveryResendView",
    "MatchTesterView",
    "RuleCreateView",
    "RuleDeleteView",
    "RuleListView",
    "RulePreviewView",
    "RuleUpdateView",
]
