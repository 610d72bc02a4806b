"""Admin: alert rules are edited here by admins (and on the Monitoring page); deliveries and mode changes are read-only."""

from django.contrib import admin

from ops_app.models import AlertDelivery, AlertRule, ModeChange
from risk_app.admin import ReadOnlyAdmin


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "severity", "threshold", "window_minutes", "webhook_url", "updated_at")
    list_filter = ("kind", "enabled", "severity")
    list_editable = ("enabled", "threshold")
    search_fields = ("name", "note")
    readonly_fields = ("updated_by", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


for model in (AlertDelivery, ModeChange):
    admin.site.register(model, ReadOnlyAdmin)
