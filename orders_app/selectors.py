"""Order reads: who sees which orders, the blotter page, one order's detail, TCA, venue scorecard.

Every list is one query for the page plus one for the children of the page's
parents (no per-row queries), on the indexes of ``orders_app.models``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum

from desk import roles
from desk.interfaces import FillReport, LiquiditySide, OrderStatus, Side
from orders_app import states
from orders_app.states import TERMINAL_STATUSES
from orders_app.models import Fill, Order, OrderEvent, RoutingDecision, Venue
from orders_app.tca import TcaReport, analyse, slippage_bps


def orders_visible_to(user) -> QuerySet[Order]:
    """Risk officers and admins see every order; traders those of their portfolios; others none."""
    qs = Order.objects.all()
    if roles.sees_all_portfolios(user):
        return qs
    if roles.is_trader(user):
        return qs.filter(portfolio__traders=user)
    return qs.none()


def may_trade_portfolio(user, portfolio_id: int) -> bool:
    from portfolio_app.models import Portfolio

    return roles.is_trader(user) and Portfolio.objects.filter(pk=portfolio_id, traders=user).exists()


def may_manage_order(user, order: Order) -> bool:
    """Amend (and cancel): a trader of the order's portfolio. Admins place, amend and cancel nothing."""
    return may_trade_portfolio(user, order.portfolio_id)


def may_cancel_orders(user, portfolio_id: int) -> bool:
    """Cancel: a trader of the portfolio, or a risk officer (who may stop any trading at once)."""
    return roles.is_risk_officer(user) or may_trade_portfolio(user, portfolio_id)


def parent_orders(user) -> QuerySet[Order]:
    """The parent orders ``user`` may see, newest first (``OrderFilter`` narrows them)."""
    qs = orders_visible_to(user).filter(parent__isnull=True)
    return qs.select_related("instrument", "portfolio").order_by("-created_at", "-id")


@dataclass(frozen=True)
class ChildSummary:
    count: int
    open: int
    venues: list[tuple[str, float]]  # (venue, share of the children's quantity)
    next_due: datetime | None


def children_summaries(parent_ids) -> dict[int, ChildSummary]:
    """Per parent: number of children, how many are open, venue split, next unsent due time (1 query)."""
    rows = (
        Order.objects.filter(parent_id__in=list(parent_ids))
        .values("parent_id", "venue__code", "status", "due_at", "quantity")
        .order_by()
    )
    acc: dict[int, dict] = defaultdict(lambda: {"n": 0, "open": 0, "qty": defaultdict(Decimal), "next": None})
    for r in rows:
        a = acc[r["parent_id"]]
        a["n"] += 1
        a["qty"][r["venue__code"] or "?"] += r["quantity"]
        if not states.is_terminal(r["status"]):
            a["open"] += 1
        if r["status"] == "INITIALIZED" and r["due_at"] and (a["next"] is None or r["due_at"] < a["next"]):
            a["next"] = r["due_at"]
    out = {}
    for pid, a in acc.items():
        total = sum(a["qty"].values()) or Decimal(1)
        venues = sorted(((v, float(q / total)) for v, q in a["qty"].items()), key=lambda x: -x[1])
        out[pid] = ChildSummary(a["n"], a["open"], venues, a["next"])
    return out


def arrival_slippage_bps(order: Order) -> float | None:
    if order.avg_px is None or not order.arrival_px:
        return None
    return slippage_bps(Side(order.side), order.avg_px, order.arrival_px)


def order_detail(user, order_id: int) -> Order | None:
    return orders_visible_to(user).select_related("instrument", "portfolio", "venue", "parent").filter(pk=order_id).first()


def order_children(order: Order) -> list[Order]:
    return list(order.children.select_related("venue").order_by("due_at", "id"))


def order_events(order: Order) -> list[OrderEvent]:
    return list(OrderEvent.objects.filter(Q(order=order) | Q(order__parent=order)).select_related("order", "actor").order_by("ts", "id"))


def order_fills(order: Order) -> list[Fill]:
    return list(Fill.objects.filter(Q(order=order) | Q(order__parent=order)).select_related("order", "venue").order_by("ts_event", "id"))


def routing_decisions(order: Order) -> list[RoutingDecision]:
    return list(RoutingDecision.objects.filter(parent=order).order_by("sequence"))


def order_tca(order: Order, fills: list[Fill] | None = None) -> TcaReport | None:
    """TCA of a parent (or a lone order): arrival price, average fill, slippage vs arrival and
    the interval VWAP (from when it was sent to its last fill, on the replayed market), fees, fill rate."""
    if not order.arrival_px:
        return None
    fills = order_fills(order) if fills is None else fills
    reports = [
        FillReport(f.trade_id, f.order.client_order_id, f.venue.code if f.venue_id else "", order.instrument.symbol,
                   Side(order.side), f.last_qty, f.last_px, f.commission, LiquiditySide(f.liquidity_side), f.ts_event)
        for f in fills
    ]
    vwap = None
    if reports:
        from market_app.marks import session_at, session_market

        sent = [c.sent_at for c in order.children.exclude(sent_at=None).only("sent_at")] or [order.sent_at or reports[0].ts_event]
        start = min(sent)
        end = max(r.ts_event for r in reports)
        try:
            session = session_at(start)
            market = session_market(session, [order.instrument.symbol])
            v = market.vwap(order.instrument.symbol, start, max(end, start))
            vwap = Decimal(repr(v)) if v == v else None
        except (LookupError, ValueError):
            vwap = None
    return analyse(side=Side(order.side), parent_qty=order.quantity, arrival_price=order.arrival_px, fills=reports, interval_vwap=vwap)


def order_venue_latency(order: Order) -> list[tuple[str, "VenueLatency"]]:
    """Per venue this parent's children went to: their measured ack and first-fill latency."""
    measured = venue_latency(order.children.all())
    codes = dict(Venue.objects.filter(pk__in=list(measured)).values_list("pk", "code"))
    return [(codes[vid], lat) for vid, lat in sorted(measured.items(), key=lambda kv: codes[kv[0]]) if lat.samples]


@dataclass(frozen=True)
class VenueScore:
    code: str
    name: str
    enabled: bool
    child_orders: int
    ordered_qty: Decimal
    filled_qty: Decimal
    fill_rate: float | None
    fills: int
    notional: Decimal
    fees: Decimal
    fees_bps: float | None
    avg_slippage_bps: float | None  # vs the parent's arrival price, quantity-weighted, + = worse
    latency_ms: Decimal  # the venue's configured model latency (what the paper venue simulates)
    latency_samples: int = 0  # children measured below
    ack_p50_ms: float | None = None  # order -> acknowledgement, measured, wall clock
    ack_p95_ms: float | None = None
    first_fill_p50_ms: float | None = None  # order -> first fill, measured, wall clock
    first_fill_p95_ms: float | None = None


# The scorecard measures latency over each venue's most recent child orders.
LATENCY_WINDOW = 2000


def _nearest_rank(sorted_ms: list[float], p: float) -> float | None:
    """The p-th percentile by nearest rank (a value that happened, never an interpolation)."""
    if not sorted_ms:
        return None
    import math

    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


@dataclass(frozen=True, slots=True)
class VenueLatency:
    samples: int
    ack_p50_ms: float | None
    ack_p95_ms: float | None
    first_fill_p50_ms: float | None
    first_fill_p95_ms: float | None


def venue_latency(orders: QuerySet[Order] | None = None, *, window: int = LATENCY_WINDOW) -> dict[int, VenueLatency]:
    """Order -> acknowledgement and order -> first fill per venue, from the real timestamps.

    A child is sent when its SUBMITTED event is written; it is acknowledged when its ACCEPTED
    event is (the paper venue's answer in process, a FIX venue's ExecutionReport 8/0 applied by
    the gateway); its first fill is its first ``Fill`` row. All three are wall-clock times
    written by the desk, so the figures hold for a replayed market too (its sent_at is market
    time). Over the venue's ``window`` most recent children; one query per venue.
    """
    from django.db.models import Min, OuterRef, Subquery

    base = Order.objects.all() if orders is None else orders
    events = OrderEvent.objects.filter(order=OuterRef("pk")).order_by("id").values("ts")
    out: dict[int, VenueLatency] = {}
    venue_ids = base.filter(parent__isnull=False, venue__isnull=False).values_list("venue_id", flat=True).distinct().order_by()
    for venue_id in venue_ids:
        rows = (
            base.filter(venue_id=venue_id, parent__isnull=False)
            .order_by("-id")
            .annotate(
                t_sent=Subquery(events.filter(event="SUBMITTED")[:1]),
                t_ack=Subquery(events.filter(event="ACCEPTED")[:1]),
                t_fill=Min("fills__created_at"),
            )
            .values_list("t_sent", "t_ack", "t_fill")[:window]
        )
        acks, fills, n = [], [], 0
        for sent, ack, fill in rows:
            if sent is None or (ack is None and fill is None):
                continue
            n += 1
            if ack is not None:
                acks.append(max(0.0, (ack - sent).total_seconds() * 1000))
            if fill is not None:
                fills.append(max(0.0, (fill - sent).total_seconds() * 1000))
        acks.sort()
        fills.sort()
        out[venue_id] = VenueLatency(n, _nearest_rank(acks, 50), _nearest_rank(acks, 95),
                                     _nearest_rank(fills, 50), _nearest_rank(fills, 95))
    return out


def venue_scorecard(user=None) -> list[VenueScore]:
    """Fill rate, slippage, fees and latency per venue, over the child orders the user can see."""
    orders = orders_visible_to(user) if user is not None else Order.objects.all()
    # Children that reached a venue and have an outcome there: every terminal status but DENIED, and part fills.
    outcome = {*TERMINAL_STATUSES, OrderStatus.PARTIALLY_FILLED.value} - {OrderStatus.DENIED.value}
    done = orders.filter(venue__isnull=False, status__in=outcome)
    per_order = {
        r["venue_id"]: r
        for r in done.values("venue_id").annotate(n=Count("id"), q=Sum("quantity"), f=Sum("filled_qty")).order_by()
    }
    fills = Fill.objects.filter(order__in=orders.filter(venue__isnull=False)).values("venue_id", "order__side").annotate(
        n=Count("id"), qty=Sum("last_qty"), notional=Sum(F("last_qty") * F("last_px")),
        bench=Sum(F("last_qty") * F("order__arrival_px")), fees=Sum("commission"),
    ).order_by()
    per_fill: dict[int, dict] = defaultdict(lambda: {"n": 0, "notional": Decimal(0), "fees": Decimal(0), "slip": Decimal(0), "bench": Decimal(0)})
    for r in fills:
        a = per_fill[r["venue_id"]]
        sign = 1 if r["order__side"] == "BUY" else -1
        a["n"] += r["n"]
        a["notional"] += r["notional"] or 0
        a["fees"] += r["fees"] or 0
        if r["bench"]:
            a["slip"] += sign * ((r["notional"] or 0) - r["bench"])
            a["bench"] += r["bench"]
    measured = venue_latency(orders)
    out = []
    for v in Venue.objects.all():
        o, f = per_order.get(v.pk, {}), per_fill[v.pk]
        lat = measured.get(v.pk) or VenueLatency(0, None, None, None, None)
        q, fq = o.get("q") or Decimal(0), o.get("f") or Decimal(0)
        out.append(
            VenueScore(
                code=v.code, name=v.name, enabled=v.enabled, child_orders=o.get("n", 0), ordered_qty=q, filled_qty=fq,
                fill_rate=float(fq / q) if q else None, fills=f["n"], notional=Decimal(f["notional"]).quantize(Decimal("0.01")),
                fees=Decimal(f["fees"]).quantize(Decimal("0.01")),
                fees_bps=float(f["fees"] / f["notional"] * 10_000) if f["notional"] else None,
                avg_slippage_bps=float(f["slip"] / f["bench"] * 10_000) if f["bench"] else None,
                latency_ms=v.latency_ms,
                latency_samples=lat.samples, ack_p50_ms=lat.ack_p50_ms, ack_p95_ms=lat.ack_p95_ms,
                first_fill_p50_ms=lat.first_fill_p50_ms, first_fill_p95_ms=lat.first_fill_p95_ms,
            )
        )
    return out
