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
