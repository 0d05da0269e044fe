from __future__ import annotations

from django.contrib import admin

from .models import AlertGroup, AlertInstance, Silence


class AlertInstanceInline(admin.TabularInline):
    model = AlertInstance
    extra = 0
    fields = ("status", "started_at", "ended_at", "annotations")
    readonly_fields = fields


@admin.register(AlertGroup)
class AlertGroupAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "severity",
        "instance",
        "current_status",
        "is_silenced",
        "last_occurrence",
    )
    list_filter = ("current_status", "is_silenced", "severity")
    search_fields = ("name", "fingerprint", "instance")
    inlines = [AlertInstanceInline]


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ("name", "matchers", "starts_at", "ends_at")
