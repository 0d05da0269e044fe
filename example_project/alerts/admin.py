from __future__ import annotations

from django.contrib import admin

from .models import AlertAcknowledgementHistory, AlertGroup, AlertInstance, Silence


class AlertInstanceInline(admin.TabularInline):
    model = AlertInstance
    extra = 0
    fields = ("status", "started_at", "ended_at", "annotations")
    readonly_fields = fields


class AcknowledgementInline(admin.TabularInline):
    model = AlertAcknowledgementHistory
    extra = 0
    fields = ("acknowledged_at", "acknowledged_by", "comment")
    readonly_fields = fields


@admin.register(AlertGroup)
class AlertGroupAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "severity",
        "instance",
        "current_status",
        "is_silenced",
        "acknowledged",
        "last_occurrence",
    )
    list_filter = ("current_status", "is_silenced", "acknowledged", "severity")
    search_fields = ("name", "fingerprint", "instance")
    inlines = [AlertInstanceInline, AcknowledgementInline]


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ("__str__", "matchers", "starts_at", "ends_at", "created_by")
