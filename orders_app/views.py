"""Orders pages: the blotter (with the manual order form and the venue scorecard) and one order's page.

Thin: authorise, call a selector or a service, render. The blotter's rows are also served
as a fragment (``?fragment=rows``) that ``static/js/orders.js`` re-fetches on "resync".
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from desk.interfaces import OrderStatus
from desk.web import desk_page
from orders_app.filters import OrderFilter
from orders_app import selectors
from orders_app.algos import ALGOS
from orders_app.services import OrderError
from orders_app.states import IllegalTransition
from orders_app.submission import OrderPermissionError, OrderValidationError, order_cancel, order_place, orders_cancel_all
from portfolio_app.selectors import portfolios_visible_to

PAGE_SIZE = 50
FORM_FIELDS = ("portfolio", "symbol", "side", "quantity", "order_type", "limit_price", "time_in_force", "algo")


def _rows(request):
    q = request.GET
    # A bad filter on the page shows every order rather than an error page (the API answers 400).
    found = OrderFilter(q, queryset=selectors.parent_orders(request.user))
    qs = found.qs if found.is_valid() else selectors.parent_orders(request.user)
    page = Paginator(qs, PAGE_SIZE).get_page(q.get("page"))
    orders = list(page.object_list)
    children = selectors.children_summaries([o.pk for o in orders])
    rows = [{"o": o, "children": children.get(o.pk), "slip": selectors.arrival_slippage_bps(o)} for o in orders]
    return page, rows


def _context(request, *, form=None, errors=None):
    from market_app.models import Instrument

    page, rows = _rows(request)
    portfolios = list(portfolios_visible_to(request.user).only("id", "name"))
    tradable = [p for p in portfolios if selectors.may_trade_portfolio(request.user, p.pk)]
    return {
        "page": page,
        "rows": rows,
        "portfolios": portfolios,
        "tradable_portfolios": tradable,
        "symbols": list(Instrument.objects.filter(tradable=True, asset_class="equity").values_list("symbol", flat=True)),
        "statuses": [s.value for s in OrderStatus],
        "algos": list(ALGOS),
        "filters": {k: request.GET.get(k, "") for k in ("portfolio", "status", "instrument")},
        # The scorecard aggregates every child order and fill: only when asked for (the
        # "Venue scorecard" link), so the blotter itself stays fast with many orders.
        "scorecard": selectors.venue_scorecard(request.user) if request.GET.get("scorecard") else None,
        "form": form or {},
        "errors": errors or {},
    }


@desk_page
def orders_page(request):
    if request.method == "POST":
        return _place(request)
    if request.GET.get("fragment") == "rows":
        page, rows = _rows(request)
        return render(request, "orders/_rows.html", {"rows": rows, "page": page})
    return render(request, "orders/blotter.html", _context(request))


def _place(request):
    form = {k: request.POST.get(k, "") for k in FORM_FIELDS}
    try:
        order = order_place(
            user=request.user, portfolio_id=form["portfolio"], symbol=form["symbol"], side=form["side"],
            quantity=form["quantity"], order_type=form["order_type"] or "MARKET", limit_price=form["limit_price"] or None,
            time_in_force=form["time_in_force"] or "DAY", algo=form["algo"] or "IMMEDIATE", algo_params=_algo_params(request.POST),
        )
    except OrderPermissionError as exc:
        return HttpResponseForbidden(str(exc))
    except OrderValidationError as exc:
        return render(request, "orders/blotter.html", _context(request, form=form, errors=exc.errors), status=400)
    return redirect(reverse("order-detail", args=[order.pk]))


def _algo_params(post) -> dict:
    params = {}
    for name, cast in (("slices", int), ("interval_minutes", float), ("rate", float), ("randomise", float)):
        raw = (post.get(f"param_{name}") or "").strip()
        if raw:
            try:
                params[name] = cast(raw)
            except ValueError:
                params[name] = raw  # the algo refuses it with the field named
    return params


@desk_page
def order_detail_page(request, order_id: int):
    order = selectors.order_detail(request.user, order_id)
    if order is None:
        raise Http404("No such order.")
    fills = selectors.order_fills(order)
    return render(
        request,
        "orders/detail.html",
        {
            "order": order,
            "children": selectors.order_children(order),
            "events": selectors.order_events(order),
            "fills": fills,
            "decisions": selectors.routing_decisions(order),
            "tca": selectors.order_tca(order, fills) if order.parent_id is None else None,
            "venue_latency": selectors.order_venue_latency(order) if order.parent_id is None else [],
            "may_manage": selectors.may_manage_order(request.user, order) and order.is_open,
            "may_cancel": selectors.may_cancel_orders(request.user, order.portfolio_id) and order.is_open,
        },
    )


@desk_page
def order_children_fragment(request, order_id: int):
    order = selectors.order_detail(request.user, order_id)
    if order is None:
        raise Http404("No such order.")
    return render(request, "orders/_children.html", {"children": selectors.order_children(order), "parent": order})


@require_POST
@desk_page
def order_cancel_page(request, order_id: int):
    order = selectors.order_detail(request.user, order_id)
    if order is None:
        raise Http404("No such order.")
    try:
        order_cancel(order_id=order.pk, actor=request.user, reason="cancelled by trader")
    except OrderPermissionError as exc:
        return HttpResponseForbidden(str(exc))
    except (OrderError, IllegalTransition):
        pass  # finished meanwhile: the page shows how
    return redirect(request.POST.get("next") or reverse("order-detail", args=[order.pk]))


@require_POST
@desk_page
def portfolio_cancel_all_page(request, portfolio_id: int):
    try:
        orders_cancel_all(portfolio_id=portfolio_id, actor=request.user, reason="cancel all (blotter)")
    except OrderPermissionError as exc:
        return HttpResponseForbidden(str(exc))
    return redirect(reverse("orders") + f"?portfolio={portfolio_id}")
