"""Forms of the Monitoring page."""

from __future__ import annotations

from django import forms


class AlertRuleForm(forms.ModelForm):
    class Meta:
        from ops_app.models import AlertRule

        model = AlertRule
        fields = ["name", "kind", "enabled", "severity", "threshold", "window_minutes", "params", "webhook_url", "note"]
