"""What every rule page shares: login and permission, the page context, sorting, pagination."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, Union

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.generic.base import ContextMixin

from ..conf import slack_rules_settings
from ..models import SlackIntegrationRule

if TYPE_CHECKING:
    from django.core.paginator import Page, Paginator, _SupportsPagination
    from django.utils.functional import _StrPromise

#: A page's title: text, or text translated when the page is shown.
Title = Union[str, "_StrPromise"]
_Row = TypeVar("_Row")

APP = "django_slack_rules"
VIEW_RULE = f"{APP}.view_slackintegrationrule"
ADD_RULE = f"{APP}.add_slackintegrationrule"
CHANGE_RULE = f"{APP}.change_slackintegrationrule"
DELETE_RULE = f"{APP}.delete_slackintegrationrule"
VIEW_DELIVERY = f"{APP}.view_slackdelivery"
CHANGE_DELIVERY = f"{APP}.change_slackdelivery"


class SlackRulesPageMixin(PermissionRequiredMixin, ContextMixin):
    """Login and a permission (anonymous → login page, without it → 403); the page context."""

    request: HttpRequest
    page_title: Title = ""
    #: The end of every page's <title>: "Delivery log · Slack rules".
    site_title: Title = _("Slack rules")
    section = "rules"  # the highlighted tab: rules, match or deliveries

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
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


def get_ordering_key(
    request: HttpRequest, choices: dict[str, tuple[str, ...]], default: str
) -> str:
    value = request.GET.get("ordering", default)
    return value if value in choices else default


def sort_directions(choices: dict[str, tuple[str, ...]]) -> dict[str, str]:
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
    kwargs: dict[str, object]
    page_kwarg = "page"

    def paginate_queryset(
        self, queryset: _SupportsPagination[_Row], page_size: int
    ) -> tuple[Paginator[_Row], Page[_Row], _SupportsPagination[_Row], bool]:
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


class RuleStillThereMixin:
    """A POST for a rule deleted meanwhile (in another tab) goes back to the list, and says so."""

    kwargs: dict[str, object]

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
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
