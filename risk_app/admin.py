"""Admin: risk records are read-only here; limits and the kill switch change only through the
services (four eyes, reasons, audit), and the limit history is append-only for everyone."""

from django.contrib import admin

from risk_app.models import Alert, PendingLimitChange, RiskCheck, RiskLimit, TradingStateChange, TradingStateRecord


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


for model in (RiskLimit, RiskLimit.history.model, PendingLimitChange, RiskCheck, Alert, TradingStateChange, TradingStateRecord):
    admin.site.register(model, ReadOnlyAdmin)


# --- Monitoring (issue 10): alert rules are edited here by admins (and on the Monitoring page).
from risk_app.models import AlertDelivery, AlertRule, ModeChange  # noqa: E402


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
