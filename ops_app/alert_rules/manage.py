"""Writes to the alert rules from the Monitoring page (the admin saves through Django's ModelAdmin)."""

from __future__ import annotations

from django.db import transaction


@transaction.atomic
def alert_rule_save(*, actor, form):
    """Save a validated ``AlertRuleForm``; its history row records who (django-simple-history)."""
    rule = form.save(commit=False)
    rule.updated_by = actor
    rule._history_user = actor
    rule.save()
    return rule
