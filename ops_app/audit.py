"""Who changed what, when, before and after: django-simple-history for the objects admins manage.

Instruments keep their history in ``market_app``; portfolios and users (models ``ops_app`` does not own)
are registered by ``ops_app.models`` with the classes here, their historical tables in ``ops_app``.  Saves that touch only fields nobody
administers - a fill's cash, a NAV snapshot's peak, a login's ``last_login`` - record nothing, so the
fill path pays no insert and the audit list holds only changes people made.  A management service that
changes a row and its many-to-many relations records one row at its end (``audit_record``), with the
roles, portfolios and token fingerprint as they then are.
"""

from __future__ import annotations

import hashlib

from django.db import models
from simple_history.models import HistoricalRecords

_AUDITED: dict[type, "AuditedHistory"] = {}


class AuditedHistory(HistoricalRecords):
    """``quiet_fields``: a save whose ``update_fields`` are all among them records no history row."""

    def __init__(self, *, quiet_fields=(), **kwargs):
        super().__init__(**kwargs)
        self.quiet_fields = frozenset(quiet_fields)

    def finalize(self, sender, **kwargs):
        super().finalize(sender, **kwargs)
        if sender is self.cls:
            _AUDITED[sender] = self

    def post_save(self, instance, created, using=None, **kwargs):
        if getattr(instance, "_audit_deferred", False):
            return  # a management service records this change itself, once, when it is complete
        update_fields = kwargs.get("update_fields")
        if not created and update_fields and set(update_fields) <= self.quiet_fields:
            return
        super().post_save(instance, created, using=using, **kwargs)


def related_changed(sender, instance, action, **kwargs) -> None:
    """A portfolio's traders or a user's roles changed outside a management service (the Django admin, the demo,
    a shell): one history row of the object whose relation it is, as it now is (who: the request's user if any)."""
    if action not in ("post_add", "post_remove", "post_clear") or getattr(instance, "_audit_deferred", False):
        return
    records = _AUDITED.get(type(instance))
    if records is not None:
        records.create_historical_record(instance, "~")


BASELINE = "as it was before its first recorded change"


def baseline_ensure(instance) -> None:
    """A row with no history yet (made before its history was kept, or in bulk) gets one row of how it is now,
    so that the change about to be made has a before. Call it before changing the instance."""
    manager = type(instance).history
    if manager.filter(id=instance.pk).exists():
        return
    records = _AUDITED.get(type(instance))
    instance._change_reason, instance._history_user = BASELINE, None  # nobody made it: it is how the row was found
    try:
        if records is None:
            manager.bulk_history_create([instance], update=True)
        else:
            records.create_historical_record(instance, "~")
    finally:
        del instance._change_reason, instance._history_user


def audit_record(instance, *, history_type: str, actor, reason: str) -> None:
    """One history row for ``instance`` as it is now ("+" created, "~" changed), by ``actor`` because ``reason``."""
    instance._history_user = actor
    instance._change_reason = reason
    try:
        _AUDITED[type(instance)].create_historical_record(instance, history_type)
    finally:
        del instance._history_user, instance._change_reason


class PortfolioAuditFields(models.Model):
    """What a portfolio's row does not hold: the usernames of its traders."""

    traders_held = models.TextField(blank=True, default="")

    class Meta:
        abstract = True


class UserAuditFields(models.Model):
    """What a user's row does not hold: roles, the portfolios traded, and a fingerprint of the API token
    (never the token: the fingerprint shows that it changed, and nothing more)."""

    roles_held = models.CharField(max_length=200, blank=True, default="")
    portfolios_held = models.TextField(blank=True, default="")
    token_fingerprint = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        abstract = True


def token_fingerprint(key: str | None) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12] if key else ""


def portfolio_extras(portfolio) -> dict[str, str]:
    if portfolio.pk is None:
        return {"traders_held": ""}
    return {"traders_held": ", ".join(sorted(portfolio.traders.values_list("username", flat=True)))}


def user_extras(user) -> dict[str, str]:
    from rest_framework.authtoken.models import Token

    if user.pk is None:
        return {"roles_held": "", "portfolios_held": "", "token_fingerprint": ""}
    return {
        "roles_held": ", ".join(sorted(user.groups.values_list("name", flat=True))),
        "portfolios_held": ", ".join(sorted(user.portfolios.values_list("name", flat=True))),
        "token_fingerprint": token_fingerprint(Token.objects.filter(user=user).values_list("key", flat=True).first()),
    }
