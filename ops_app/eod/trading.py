"""The day's trading: fills (market time), the blotter's parent orders, and TCA by venue and by algo
(``orders_app.selectors.order_tca``, the TCA module, over each parent's fills of the day)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from desk.interfaces import Side
from desk.money import cash as to_cash
from ops_app.eod.fmt import Day, in_window, money, qty, text


def trading(pids, names, day: Day):
    """Fills of the session (market time), the parents they belong to or that arrived in the day, and TCA."""
    from orders_app.models import Fill, Order
    from orders_app.selectors import arrival_slippage_bps, order_tca
    from orders_app.tca import analyse

    fills_qs = Fill.objects.filter(order__portfolio_id__in=pids, ts_event__gte=day.market_open,
                                   ts_event__lte=day.market_close)
    fill_rows = list(fills_qs.select_related("order", "order__instrument", "venue", "order__parent").order_by("ts_event", "id"))
    parent_of = {f.pk: (f.order.parent_id or f.order_id) for f in fill_rows}
    parent_ids = set(parent_of.values())
    arrived = Order.objects.filter(portfolio_id__in=pids, parent__isnull=True).filter(in_window("created_at", day))
    parent_ids |= set(arrived.exclude(status="DENIED").values_list("id", flat=True))
    parents = list(Order.objects.filter(pk__in=parent_ids).select_related("instrument", "portfolio").order_by("created_at", "id"))

    fills, totals = [], {"realised": Decimal(0), "fees": Decimal(0), "notional": Decimal(0)}
    for f in fill_rows:
        fills.append({
            "portfolio": names[f.order.portfolio_id], "time": f.ts_event.isoformat(), "trade_id": f.trade_id,
            "client_order_id": f.order.client_order_id, "symbol": f.order.instrument.symbol, "side": f.order.side,
            "quantity": qty(f.last_qty), "price": text(f.last_px), "venue": f.venue.code if f.venue_id else "",
            "commission": money(f.commission), "liquidity": f.liquidity_side, "realised_pnl": money(f.realised_pnl),
        })
        totals["realised"] += f.realised_pnl
        totals["fees"] += f.commission
        totals["notional"] += to_cash(f.last_qty * f.last_px)

    orders = []
    for o in parents:
        slip = arrival_slippage_bps(o)
        orders.append({
            "portfolio": names[o.portfolio_id], "client_order_id": o.client_order_id, "symbol": o.instrument.symbol,
            "side": o.side, "quantity": qty(o.quantity), "filled_qty": qty(o.filled_qty), "avg_px": text(o.avg_px),
            "algo": o.algo, "status": o.status, "arrival_px": text(o.arrival_px), "slippage_bps": text(slip),
        })

    # TCA: the module's analysis of each parent over its fills of the day, and of each (parent, venue) part.
    by_parent: dict[int, list] = defaultdict(list)
    for f in fill_rows:
        by_parent[parent_of[f.pk]].append(f)
    algo_acc: dict[str, dict] = defaultdict(_acc)
    venue_acc: dict[str, dict] = defaultdict(_acc)
    for o in parents:
        day_fills = by_parent.get(o.pk, [])
        if not day_fills:
            continue
        rep = order_tca(o, day_fills)
        if rep is None:
            continue
        _add(algo_acc[o.algo], rep, parent_qty=o.quantity)
        per_venue: dict[str, list] = defaultdict(list)
        for f in day_fills:
            per_venue[f.venue.code if f.venue_id else "?"].append(f)
        for venue, vf in per_venue.items():
            # The venue's part against the parent's benchmarks (its arrival and interval VWAP, computed once above).
            vrep = analyse(side=Side(o.side), parent_qty=o.quantity, arrival_price=o.arrival_px,
                           fills=[_report(f, o) for f in vf], interval_vwap=rep.interval_vwap)
            _add(venue_acc[venue], vrep, parent_qty=None)
    tca_venue = [_tca_row("venue", k, a) for k, a in sorted(venue_acc.items())]
    tca_algo = [_tca_row("algo", k, a) for k, a in sorted(algo_acc.items())]
    for row in tca_venue:
        row.pop("fill_rate_pct")
    return fills, orders, tca_venue, tca_algo, totals


def _report(f, order):
    from desk.interfaces import FillReport, LiquiditySide

    return FillReport(f.trade_id, f.order.client_order_id, f.venue.code if f.venue_id else "", order.instrument.symbol,
                      Side(order.side), f.last_qty, f.last_px, f.commission, LiquiditySide(f.liquidity_side), f.ts_event)


def _acc() -> dict:
    return {"orders": 0, "fills": 0, "qty": Decimal(0), "notional": Decimal(0), "fees": Decimal(0),
            "slip_a": 0.0, "w_a": 0.0, "slip_v": 0.0, "w_v": 0.0, "parent_qty": Decimal(0)}


def _add(a: dict, rep, *, parent_qty) -> None:
    """Slippages weighted by filled notional, as a desk's TCA aggregates them."""
    w = float(rep.notional)
    a["orders"] += 1
    a["fills"] += rep.n_fills
    a["qty"] += rep.filled_qty
    a["notional"] += rep.notional
    a["fees"] += rep.fees
    if rep.slippage_bps_arrival is not None:
        a["slip_a"] += rep.slippage_bps_arrival * w
        a["w_a"] += w
    if rep.slippage_bps_vwap is not None:
        a["slip_v"] += rep.slippage_bps_vwap * w
        a["w_v"] += w
    if parent_qty is not None:
        a["parent_qty"] += parent_qty


def _tca_row(key: str, name: str, a: dict) -> dict:
    return {
        key: name, "orders": str(a["orders"]), "fills": str(a["fills"]), "filled_qty": qty(a["qty"]),
        "notional": money(a["notional"]), "fees": money(a["fees"]),
        "fees_bps": f"{float(a['fees'] / a['notional'] * 10_000):.2f}" if a["notional"] else "",
        "slippage_arrival_bps": f"{a['slip_a'] / a['w_a']:.2f}" if a["w_a"] else "",
        "slippage_vwap_bps": f"{a['slip_v'] / a['w_v']:.2f}" if a["w_v"] else "",
        "fill_rate_pct": f"{float(a['qty'] / a['parent_qty']) * 100:.2f}" if a["parent_qty"] else "",
    }
