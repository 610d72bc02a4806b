"""The venue form: what an admin edits on the Venues page."""

from __future__ import annotations

from django import forms

from orders_app.models import Venue

SESSION_FIELDS = ("kind", "fix_begin_string", "fix_sender_comp_id", "fix_target_comp_id", "fix_host", "fix_port", "fix_heartbeat_s")


class VenueForm(forms.ModelForm):
    reason = forms.CharField(max_length=500, help_text="Why (kept in the venue's history).")

    class Meta:
        model = Venue
        fields = ["code", "name", "kind", "enabled", "maker_fee_bps", "taker_fee_bps", "min_fee", "half_spread_bps",
                  "latency_ms", "impact_k", "displayed_share", *SESSION_FIELDS[1:]]

    def clean_code(self):
        code = self.cleaned_data["code"].strip().upper()
        if not code.replace("-", "").replace("_", "").isalnum():
            raise forms.ValidationError("Letters, digits, '-' and '_' only.")
        return code

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if len(reason) < 3:
            raise forms.ValidationError("Say why (at least 3 characters).")
        return reason

    def clean(self):
        data = super().clean()
        if data.get("kind") == Venue.Kind.FIX:
            for name in ("fix_sender_comp_id", "fix_target_comp_id", "fix_host", "fix_port"):
                if not data.get(name):
                    self.add_error(name, "Required for a FIX venue.")
            if data.get("fix_begin_string") and data["fix_begin_string"] != "FIX.4.4":
                self.add_error("fix_begin_string", "The desk speaks FIX.4.4.")
        for name in ("maker_fee_bps", "taker_fee_bps", "min_fee", "half_spread_bps", "latency_ms", "impact_k"):
            v = data.get(name)
            if v is not None and v < 0:
                self.add_error(name, "Must not be negative.")
        share = data.get("displayed_share")
        if share is not None and not (0 < share <= 1):
            self.add_error("displayed_share", "A share between 0 and 1.")
        return data
