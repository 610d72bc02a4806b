"""The management pages (admins only; everyone else gets 403) - thin: authorise, call a service or selector, render.

A refused form is shown again with 400 and each bad field's reason; a saved one redirects (a new API token
is shown once, on the answer to the POST that made it, never stored in a message or a redirect).
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpResponseForbidden, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render

from desk import roles
from desk.errors import Forbidden, Invalid, NotFound
from desk.web import desk_page
from market_app.models import Instrument
from ops_app.manage import selectors as sel
from ops_app.manage import services
from ops_app.manage.forms import PortfolioForm, UserCreateForm, UserEditForm
from portfolio_app.models import Portfolio

SECTIONS = [("manage-users", "Users and roles"), ("manage-portfolios", "Portfolios"), ("manage-instruments", "Instruments"),
            ("venues", "Venues"), ("manage-audit", "Audit")]


def admin_page(view):
    """Signed-in desk users only (``desk_page``), and of those admins only: 403 for every other role."""

    @desk_page
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not roles.is_admin(request.user):
            return HttpResponseForbidden("Only admins manage users, portfolios and instruments.")
        try:
            return view(request, *args, **kwargs)
        except Forbidden as exc:
            return HttpResponseForbidden(str(exc))
        except NotFound as exc:
            raise Http404(str(exc)) from exc

    return wrapper


_SECTION_OF = {"users": "manage-users", "user": "manage-users", "portfolios": "manage-portfolios", "portfolio": "manage-portfolios",
               "instruments": "manage-instruments", "instrument": "manage-instruments", "audit": "manage-audit"}


def _render(request, template, context, status=200):
    section = _SECTION_OF[template.rsplit("/", 1)[-1].removesuffix(".html")]
    return render(request, template, {"sections": SECTIONS, "section": section, **context}, status=status)


def _post_only(request):
    return None if request.method == "POST" else HttpResponseNotAllowed(["POST"])


@admin_page
def manage_home(request):
    return redirect("manage-users")


# -- users and roles


@admin_page
def users_page(request, *, errors=None, values=None, status=200):
    return _render(request, "manage/users.html", {
        "rows": sel.users_overview(), "form": UserCreateForm(values) if values is not None else UserCreateForm(),
        "errors": errors or {}, "portfolios": Portfolio.objects.order_by("name"),
        "role_names": [r for r, _ in UserCreateForm.base_fields["roles"].choices],
    }, status)


@admin_page
def user_create_view(request):
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        user, token = services.user_create(actor=request.user, data=request.POST)
    except Invalid as exc:
        return users_page(request, errors=exc.field_errors, values=request.POST, status=400)
    return _user_page(request, user, new_token=token.key, notice=f"User {user.username} created.")


def _user_page(request, user, *, errors=None, values=None, status=200, new_token=None, notice=""):
    current = {"email": user.email, "roles": sorted(roles.roles_of(user)),  # a superuser shows as Admin
               "portfolios": list(user.portfolios.values_list("pk", flat=True))}
    return _render(request, "manage/user.html", {
        "subject": user, "values": values, "current": current, "errors": errors or {}, "new_token": new_token, "notice": notice,
        "form": UserEditForm(values if values is not None else None, initial=current, user=user, actor=request.user),
        "portfolios": Portfolio.objects.order_by("name"), "role_names": [r for r, _ in UserEditForm.base_fields["roles"].choices],
        "history": sel.audit_entries(kind="user", object_id=user.pk, limit=50),
        "token": sel.token_fingerprint(_token_key(user)),
    }, status)


def _token_key(user):
    from rest_framework.authtoken.models import Token

    return Token.objects.filter(user=user).values_list("key", flat=True).first()


@admin_page
def user_page(request, user_id: int):
    user = get_object_or_404(get_user_model(), pk=user_id)
    if request.method != "POST":
        return _user_page(request, user)
    try:
        services.user_update(actor=request.user, user_id=user.pk, data=request.POST)
    except Invalid as exc:
        return _user_page(request, user, errors=exc.field_errors, values=request.POST, status=400)
    messages.success(request, f"User {user.username} saved.")
    return redirect("manage-user", user_id=user.pk)


@admin_page
def user_active_view(request, user_id: int, active: bool):
    if (refused := _post_only(request)) is not None:
        return refused
    user = get_object_or_404(get_user_model(), pk=user_id)
    try:
        services.user_active_set(actor=request.user, user_id=user.pk, active=active, data=request.POST)
    except Invalid as exc:
        return _user_page(request, user, errors=exc.field_errors, status=400)
    messages.success(request, f"User {user.username} {'reactivated' if active else 'deactivated: their sessions and token no longer work'}.")
    return redirect("manage-user", user_id=user.pk)


@admin_page
def user_token_view(request, user_id: int):
    if (refused := _post_only(request)) is not None:
        return refused
    user = get_object_or_404(get_user_model(), pk=user_id)
    try:
        token = services.user_token_rotate(actor=request.user, user_id=user.pk, data=request.POST)
    except Invalid as exc:
        return _user_page(request, user, errors=exc.field_errors, status=400)
    user.refresh_from_db()
    return _user_page(request, user, new_token=token.key, notice="Token rotated: the old one no longer works.")


# -- portfolios


def _portfolio_initial(p: Portfolio | None) -> dict:
    if p is None:
        return {"account": "cash", "initial_margin": "0.5", "gross_limit": "1", "strategy": "max_sharpe", "strategy_params": {},
                "constraints": {}, "policy_frequency": "monthly", "policy_band_pp": "5"}
    policy = p.rebalance_policy or {}
    return {"name": p.name, "benchmark": p.benchmark_id, "traders": list(p.traders.values_list("pk", flat=True)),
            "account": "margin" if p.long_short else "cash", "initial_margin": p.initial_margin, "gross_limit": p.gross_limit,
            "strategy": p.strategy, "strategy_params": p.strategy_params or {}, "constraints": p.constraints or {},
            "policy_kind": policy.get("kind", ""), "policy_frequency": policy.get("frequency", "monthly"),
            "policy_band_pp": policy.get("band_pp", 5)}


@admin_page
def portfolios_page(request, *, errors=None, values=None, status=200):
    rows = list(Portfolio.objects.select_related("benchmark").prefetch_related("traders").order_by("name"))
    form = PortfolioForm(values, instance=None) if values is not None else PortfolioForm(initial=_portfolio_initial(None))
    return _render(request, "manage/portfolios.html", {"rows": rows, "form": form, "errors": errors or {}}, status)


@admin_page
def portfolio_create_view(request):
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        p = services.portfolio_save(actor=request.user, portfolio_id=None, data=request.POST)
    except Invalid as exc:
        return portfolios_page(request, errors=exc.field_errors, values=request.POST, status=400)
    messages.success(request, f"Portfolio {p.name} created.")
    return redirect("manage-portfolio", portfolio_id=p.pk)


@admin_page
def portfolio_page(request, portfolio_id: int):
    p = get_object_or_404(Portfolio, pk=portfolio_id)
    errors, values, status = {}, None, 200
    if request.method == "POST":
        try:
            services.portfolio_save(actor=request.user, portfolio_id=p.pk, data=request.POST)
        except Invalid as exc:
            errors, values, status = exc.field_errors, request.POST, 400
        else:
            messages.success(request, f"Portfolio {p.name} saved.")
            return redirect("manage-portfolio", portfolio_id=p.pk)
    form = PortfolioForm(values, instance=p) if values is not None else PortfolioForm(initial=_portfolio_initial(p), instance=p)
    return _render(request, "manage/portfolio.html", {
        "p": p, "form": form, "errors": errors, "history": sel.audit_entries(kind="portfolio", object_id=p.pk, limit=50),
    }, status)


# -- instruments


@admin_page
def instruments_page(request):
    q = (request.GET.get("q") or "").strip()
    rows = Instrument.objects.order_by("symbol")
    if q:
        rows = rows.filter(symbol__icontains=q) | rows.filter(name__icontains=q)
    return _render(request, "manage/instruments.html", {"rows": list(rows), "q": q})


@admin_page
def instrument_page(request, instrument_id: int):
    from ops_app.manage.forms import InstrumentForm

    instrument = get_object_or_404(Instrument, pk=instrument_id)
    errors, form, status = {}, InstrumentForm(instance=instrument), 200
    if request.method == "POST":
        try:
            services.instrument_update(actor=request.user, instrument_id=instrument.pk, data=request.POST)
        except Invalid as exc:
            errors, status = exc.field_errors, 400
            form = InstrumentForm(request.POST, instance=Instrument.objects.get(pk=instrument.pk))
        else:
            messages.success(request, f"Instrument {instrument.symbol} saved.")
            return redirect("manage-instrument", instrument_id=instrument.pk)
    return _render(request, "manage/instrument.html", {
        "i": instrument, "form": form, "errors": errors,
        "history": sel.audit_entries(kind="instrument", object_id=instrument.pk, limit=50),
    }, status)


# -- the audit list


@admin_page
def audit_page(request):
    kind = request.GET.get("kind") or None
    if kind not in (None, *sel.KINDS):
        kind = None
    return _render(request, "manage/audit.html", {"entries": sel.audit_entries(kind=kind, limit=300), "kind": kind or "",
                                                  "kinds": sel.KINDS})
