"""Writes to the alert rules from the Monitoring page (the admin saves through Django's ModelAdmin)."""

from __future__ import annotations

from django.db import transaction

from desk import roles
from desk.errors import Forbidden
from ops_app.forms import AlertRuleForm
from ops_app.models import AlertRule


@transaction.atomic
def alert_rule_save(*, actor, rule_id: int | None, data) -> tuple[AlertRule | None, dict[str, list[str]]]:
    """Create or change a rule (admins only: ``Forbidden``): ``(rule, {})``, or ``(None, errors per field)``
    with nothing saved. Its history row records who (django-simple-history)."""
    if not roles.is_admin(actor):
        raise Forbidden("Only admins change alert rules.")
    form = AlertRuleForm(data, instance=AlertRule.objects.filter(pk=rule_id).first() if rule_id else None)
    if not form.is_valid():
        return None, {f: [str(e) for e in errs] for f, errs in form.errors.items()}
    rule = form.save(commit=False)
    rule.updated_by = actor
    rule._history_user = actor
    rule.save()
    return rule, {}
