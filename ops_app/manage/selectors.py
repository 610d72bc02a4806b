"""Reads for the management pages: the users with their roles, and the audit list (who, when, before, after, why)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import groupby

from django.contrib.auth import get_user_model
from django.db import models
from rest_framework.authtoken.models import Token

from ops_app.audit import BASELINE, token_fingerprint

# What the audit list shows, by kind: the model, the fields it leaves out of a change's before/after, how a row is named.
_QUIET = {"cash", "peak_nav"}  # moved by fills and NAV snapshots, not by people: shown only at creation


@dataclass
class AuditEntry:
    kind: str
    object_id: int
    label: str
    when: datetime
    who: str
    action: str
    why: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def shown(self) -> list[tuple[str, str, str, str]]:
        """(field, label, before, after) for the page: the audit fields under the names people use."""
        return [(f, LABELS.get(f, f.replace("_", " ")), old, new) for f, old, new in self.changes]


LABELS = {"roles_held": "roles", "portfolios_held": "portfolios", "traders_held": "traders",
          "token_fingerprint": "API token (fingerprint)", "is_active": "active", "is_staff": "Django admin access",
          "is_superuser": "superuser", "long_short": "margin account (long/short)", "adv": "ADV", "rebalance_policy": "policy"}


def _sources():
    from market_app.models import Instrument
    from orders_app.models import Venue
    from portfolio_app.models import Portfolio

    User = get_user_model()
    return {
        "user": (User.history.model, "username"),
        "portfolio": (Portfolio.history.model, "name"),
        "instrument": (Instrument.history.model, "symbol"),
        "venue": (Venue.history.model, "code"),
    }


KINDS = ("user", "portfolio", "instrument", "venue")
_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def _fields(model) -> list[models.Field]:
    skip = {"history_id", "history_date", "history_change_reason", "history_type", "history_user", "id"}
    return [f for f in model._meta.concrete_fields if f.name not in skip and f.attname not in skip]


def _show(value, f: models.Field, names: dict) -> str:
    if value is None or value == "":
        return "—"
    if f.is_relation:
        return names.get((f.related_model, value), str(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        from desk.templatetags.desk import deskdt

        return deskdt(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def audit_entries(*, kind: str | None = None, object_id: int | None = None, limit: int = 200) -> list[AuditEntry]:
    """The newest ``limit`` changes (of one kind, or one object), newest first, each with its fields' before -> after.

    Reads each kind's newest rows, then the rows just before them in one query per kind to diff against.
    """
    out: list[AuditEntry] = []
    for name, (model, label_attr) in _sources().items():
        if kind and name != kind:
            continue
        qs = model.objects.select_related("history_user").order_by("-history_date", "-history_id")
        if object_id is not None:
            qs = qs.filter(id=object_id)
        rows = list(qs[:limit])
        if not rows:
            continue
        ids = {r.id for r in rows}
        oldest = min(r.history_date for r in rows)
        # Each object's rows from the oldest shown on, plus the one row before it (the "before" of the oldest change).
        every = list(model.objects.filter(id__in=ids).order_by("id", "history_date", "history_id")
                     .values_list("id", "history_id", "history_date"))
        keep: set[int] = set()
        for oid, group in groupby(every, key=lambda t: t[0]):
            group = list(group)
            first = next((i for i, t in enumerate(group) if t[2] >= oldest), len(group))
            keep.update(t[1] for t in group[max(0, first - 1):])
        full = {r.history_id: r for r in model.objects.filter(history_id__in=keep)}
        previous: dict[int, object] = {}
        for oid, group in groupby(sorted(full.values(), key=lambda r: (r.id, r.history_date, r.history_id)), key=lambda r: r.id):
            prev = None
            for r in group:
                previous[r.history_id] = prev
                prev = r
        fields = _fields(model)
        names = _related_names(fields, full.values())
        for r in rows:
            if r.history_change_reason == BASELINE:
                continue  # the before of the first recorded change, not a change itself
            before = previous.get(r.history_id)
            out.append(AuditEntry(
                kind=name, object_id=r.id, label=str(getattr(r, label_attr)), when=r.history_date,
                who=r.history_user.username if r.history_user else "—", action=_ACTIONS.get(r.history_type, r.history_type),
                why=r.history_change_reason or "", changes=_changes(r, before, fields, names),
            ))
    out.sort(key=lambda e: e.when, reverse=True)
    return out[:limit]


def _related_names(fields, rows) -> dict:
    names: dict = {}
    for f in fields:
        if not f.is_relation:
            continue
        ids = {getattr(r, f.attname) for r in rows} - {None}
        if ids:
            for obj in f.related_model.objects.filter(pk__in=ids):
                names[(f.related_model, obj.pk)] = str(obj)
    return names


def _changes(row, before, fields, names) -> list[tuple[str, str, str]]:
    out = []
    for f in fields:
        new = getattr(row, f.attname)
        if before is None:
            # A creation lists what the object was given (not the unset flags, nor the join time: "when" says it).
            if row.history_type == "+" and new not in (None, "", {}, [], False) and f.name != "date_joined":
                out.append((f.name, "—", _show(new, f, names)))
            continue
        if f.name in _QUIET:
            continue
        old = getattr(before, f.attname)
        if old != new:
            out.append((f.name, _show(old, f, names), _show(new, f, names)))
    return out


def users_overview() -> list[dict]:
    """Every user with roles, portfolios, whether active, the last login and their token's fingerprint."""
    User = get_user_model()
    users = list(User.objects.prefetch_related("groups", "portfolios").order_by("username"))
    tokens = dict(Token.objects.values_list("user_id", "key"))
    return [{
        "user": u,
        "roles": sorted(g.name for g in u.groups.all()) + (["(superuser)"] if u.is_superuser and not any(
            g.name == "Admin" for g in u.groups.all()) else []),
        "portfolios": sorted(p.name for p in u.portfolios.all()),
        "token": token_fingerprint(tokens.get(u.pk)),
    } for u in users]
