from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import (
    DestinationPause,
    SlackAction,
    SlackDelivery,
    SlackIntegrationRule,
    SlackUserLink,
)
from .tasks import resend_deliveries


@admin.register(SlackIntegrationRule)
class SlackIntegrationRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "is_active",
        "priority",
        "slack_channel",
        "match_criteria",
        "continue_matching",
        "updated_at",
    )
    list_filter = ("is_active", "continue_matching", "digest_opt_out", "slack_channel")
    list_editable = ("is_active", "priority")
    search_fields = ("name", "description", "slack_channel", "message_template")
    readonly_fields = ("created_at", "updated_at")
    actions = ("activate", "deactivate")
    fieldsets = (
        (None, {"fields": ("name", "description", "is_active", "priority")}),
        (_("Matching"), {"fields": ("match_criteria", "continue_matching")}),
        (
            _("Slack"),
            {
                "fields": (
                    "slack_channel",
                    "digest_opt_out",
                    "message_template",
                    "resolved_message_template",
                    "blocks_template",
                )
            },
        ),
        (
            _("Threads and updates"),
            {"fields": ("resolve_action", "reply_broadcast", "refire_in_thread")},
        ),
        (_("Buttons in Slack"), {"fields": ("actions",)}),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    )

    @admin.action(description=_("Activate selected rules"), permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[SlackIntegrationRule]) -> None:
        count = queryset.update(is_active=True)
        self.message_user(
            request,
            ngettext("%(count)d rule activated.", "%(count)d rules activated.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Deactivate selected rules"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[SlackIntegrationRule]) -> None:
        count = queryset.update(is_active=False)
        self.message_user(
            request,
            ngettext("%(count)d rule deactivated.", "%(count)d rules deactivated.", count)
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(SlackDelivery)
class SlackDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "rule_name",
        "fingerprint",
        "alert_status",
        "action",
        "channel",
        "state",
        "attempts",
        "http_status",
        "slack_error",
    )
    list_filter = ("state", "alert_status", "action", "channel", "rule")
    search_fields = ("fingerprint", "alert_id", "rule_name", "channel", "text", "last_error")
    date_hierarchy = "created_at"
    actions = ("resend_failed",)
    readonly_fields = [f.name for f in SlackDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Resend failed deliveries"), permissions=["change"])
    def resend_failed(self, request: HttpRequest, queryset: QuerySet[SlackDelivery]) -> None:
        count = resend_deliveries(queryset)
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery queued again.", "%(count)d deliveries queued again.", count
            )
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )


@admin.register(DestinationPause)
class DestinationPauseAdmin(admin.ModelAdmin):
    list_display = ("destination", "paused_until", "updated_at")

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return False


@admin.register(SlackUserLink)
class SlackUserLinkAdmin(admin.ModelAdmin):
    """Which host user each Slack user is: found by email, or set here by hand (a Slack user
    without a host user is listed once they have clicked a button)."""

    list_display = ("slack_name", "slack_user_id", "email", "user", "source", "updated_at")
    list_filter = ("source",)
    search_fields = ("slack_name", "slack_user_id", "email")
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at")

    def save_model(
        self,
        request: HttpRequest,
        obj: SlackUserLink,
        form: forms.ModelForm[SlackUserLink],
        change: bool,
    ) -> None:
        if "user" in form.changed_data:
            obj.source = str(SlackUserLink.Source.ADMIN)
        super().save_model(request, obj, form, change)


@admin.register(SlackAction)
class SlackActionAdmin(admin.ModelAdmin):
    """The clicks from Slack, as recorded: read-only (the audit)."""

    list_display = (
        "clicked_at",
        "action",
        "slack_user_name",
        "user",
        "state",
        "notice_state",
        "delivery",
    )
    list_filter = ("state", "action", "notice_state")
    search_fields = ("slack_user_name", "slack_user_id", "message_ref", "reason")
    date_hierarchy = "clicked_at"
    readonly_fields = [f.name for f in SlackAction._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
