"""Management services (writes): users and roles, tokens, portfolios, instruments.

Every service refuses anyone but an admin (``Forbidden``), validates with its form (``Invalid`` naming each
bad field, nothing saved), changes the rows in one transaction (the row locked: ``select_for_update``) and
records one audit row with who, when, before, after and why (``ops_app.audit.audit_record``; instruments through
their own history).  A restricted flag change bumps the limits' version token in the same
transaction, so every worker's pre-trade gate reads it at its next check.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.authtoken.models import Token

from desk import groups, roles
from desk.errors import Forbidden, Invalid, NotFound
from desk.events import event_publish
from market_app.models import Instrument
from ops_app.accounts import roles_ensure, token_rotate
from ops_app.manage.forms import InstrumentForm, PortfolioForm, ReasonForm, UserCreateForm, UserEditForm
from ops_app.audit import audit_record, baseline_ensure
from portfolio_app.models import Portfolio


def _admin_only(actor) -> None:
    if not roles.is_admin(actor):
        raise Forbidden("Only admins manage users, portfolios and instruments.")


def _valid(form) -> dict:
    if not form.is_valid():
        errors = {f: " ".join(str(e) for e in errs) for f, errs in form.errors.items()}
        named = ", ".join(errors)
        raise Invalid(f"Not saved: check {named}.", field_errors=errors)
    return form.cleaned_data


def _access_changed(user_ids) -> None:
    """After commit, the users' open sockets close; their browsers reconnect with what they may now see (or none)."""
    ids = sorted({int(i) for i in user_ids})
    for uid in ids:
        event_publish(event_type="access.changed", payload={"user_id": uid}, groups=[groups.user(uid)])


def _locked_user(user_id: int):
    user = get_user_model().objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise NotFound(f"No user {user_id}.")
    baseline_ensure(user)
    return user


def _apply_roles(user, chosen: set[str]) -> None:
    """Groups as chosen; the Admin role also opens the Django admin (staff, superuser), and losing it closes it."""
    roles_ensure()
    user.groups.set(Group.objects.filter(name__in=chosen))
    admin = roles.ADMIN in chosen
    if (user.is_staff, user.is_superuser) != (admin, admin):
        user.is_staff = user.is_superuser = admin
        user.save(update_fields=["is_staff", "is_superuser"])
    user.__dict__.pop("_desk_roles", None)


@transaction.atomic
def user_create(*, actor, data) -> tuple[object, Token]:
    """A new user with their roles (and, for a trader, portfolios); every user gets an API token. Returns (user, token)."""
    _admin_only(actor)
    d = _valid(UserCreateForm(data))
    user = get_user_model()(username=d["username"], email=d.get("email") or "")
    if d.get("password"):
        user.set_password(d["password"])
    else:
        user.set_unusable_password()
    user._audit_deferred = True
    user.save()
    _apply_roles(user, set(d["roles"]))
    user.portfolios.set(d.get("portfolios") or [])
    token = Token.objects.create(user=user)
    del user._audit_deferred
    audit_record(user, history_type="+", actor=actor, reason=d["reason"])
    return user, token


@transaction.atomic
def user_update(*, actor, user_id: int, data):
    """Email, roles, the portfolios a trader trades, and optionally a new password."""
    _admin_only(actor)
    user = _locked_user(user_id)
    d = _valid(UserEditForm(data, user=user, actor=actor))
    user._audit_deferred = True
    user.email = d.get("email") or ""
    if d.get("password"):
        user.set_password(d["password"])
    user.save()
    _apply_roles(user, set(d["roles"]))
    if roles.API_CLIENT in d["roles"] and user.has_usable_password():
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user.portfolios.set(d.get("portfolios") or [])
    del user._audit_deferred
    reason = d["reason"] + (" (password set)" if d.get("password") else "")
    audit_record(user, history_type="~", actor=actor, reason=reason)
    _access_changed([user.pk])
    return user


@transaction.atomic
def user_active_set(*, actor, user_id: int, active: bool, data):
    """Deactivate (sessions and the API token stop working at once: the token is deleted) or reactivate."""
    _admin_only(actor)
    user = _locked_user(user_id)
    if user.pk == actor.pk and not active:
        raise Invalid("You cannot deactivate yourself.", field_errors={"user": "You cannot deactivate yourself: another admin must."})
    d = _valid(ReasonForm(data))
    if user.is_active == active:
        raise Invalid(f"{user.username} is {'active' if active else 'inactive'} already.",
                      field_errors={"user": f"Already {'active' if active else 'inactive'}."})
    user._audit_deferred = True
    user.is_active = active
    user.save(update_fields=["is_active"])
    if not active:
        Token.objects.filter(user=user).delete()
    del user._audit_deferred
    audit_record(user, history_type="~", actor=actor, reason=d["reason"])
    _access_changed([user.pk])
    return user


@transaction.atomic
def user_token_rotate(*, actor, user_id: int, data) -> Token:
    """A new API token for the user; the old one fails (401) from this commit on. The key is shown once, to the admin."""
    _admin_only(actor)
    user = _locked_user(user_id)
    d = _valid(ReasonForm(data))
    if not user.is_active:
        raise Invalid("An inactive user gets no token.", field_errors={"user": "Inactive: reactivate first."})
    return token_rotate(user=user, actor=actor, reason=d["reason"] + " (API token rotated)")


@transaction.atomic
def portfolio_save(*, actor, portfolio_id: int | None, data) -> Portfolio:
    """Create a portfolio (with its opening cash) or change its traders, account, strategy and rebalancing policy."""
    _admin_only(actor)
    instance = None
    if portfolio_id is not None:
        instance = Portfolio.objects.select_for_update().filter(pk=portfolio_id).first()
        if instance is None:
            raise NotFound(f"No portfolio {portfolio_id}.")
        baseline_ensure(instance)
    form = PortfolioForm(data, instance=instance)
    d = _valid(form)
    before_traders = set(instance.traders.values_list("pk", flat=True)) if instance else set()
    p = instance or Portfolio(cash=d["cash"])
    p.name, p.benchmark = d["name"], d.get("benchmark")
    p.long_short = d["account"] == "margin"
    p.initial_margin, p.gross_limit = d["initial_margin"], d["gross_limit"]
    p.strategy, p.strategy_params, p.constraints = d["strategy"], d["strategy_params"], d["constraints"]
    p.rebalance_policy = d["rebalance_policy"]
    p._audit_deferred = True
    if instance is None:
        p.save()
    else:
        p.save(update_fields=["name", "benchmark", "long_short", "initial_margin", "gross_limit", "strategy",
                              "strategy_params", "constraints", "rebalance_policy"])
    p.traders.set(d.get("traders") or [])
    del p._audit_deferred
    audit_record(p, history_type="+" if instance is None else "~", actor=actor, reason=d["reason"])
    _access_changed(before_traders ^ {t.pk for t in d.get("traders") or []})
    return p


@transaction.atomic
def instrument_update(*, actor, instrument_id: int, data) -> Instrument:
    """Name, sector, lot size, tick size, ADV, tradable and the restricted flag (the gate reads it at its next check)."""
    from risk_app.services import limits_version_bump

    _admin_only(actor)
    instrument = Instrument.objects.select_for_update().filter(pk=instrument_id).first()
    if instrument is None:
        raise NotFound(f"No instrument {instrument_id}.")
    baseline_ensure(instrument)
    was_restricted = instrument.restricted
    form = InstrumentForm(data, instance=instrument)
    d = _valid(form)
    instrument = form.save(commit=False)
    instrument._history_user = actor
    instrument._change_reason = d["reason"]
    instrument.save()
    if instrument.restricted != was_restricted:
        limits_version_bump()  # order submission reads the lot size per order; the gate caches the restricted list
    return instrument
