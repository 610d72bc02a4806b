"""What an end-of-day report says, read from the desk's own sources of truth (never a second valuation).

- NAV, exposures and positions: ``portfolio_app.valuation.book_value`` over the book as it stood at the
  close, at the marks of ``market_app.marks.marks_at(close)``. The book at the close is the book now with
  the fills after the close taken back (a position's quantity is the sum of its fills and cash moves by
  fills and fees only, DESIGN.md "Invariants"), so a report generated late still shows the close.
- Daily, MTD and YTD P&L: against ``NavSnapshot`` (the previous session's, the last of the previous month,
  of the previous year; when there is none before the period, the first of the period, named).
- Orders and fills: the blotter's own rows and figures (``orders_app.selectors``); TCA by venue and by
  algo aggregates ``orders_app.selectors.order_tca`` (the TCA module) of each parent over the day's fills.
- Limit utilisation: ``risk_app.checks.limit_utilisation`` at the close's market time, as the risk page.
- Breaches, denials, overrides (kill-switch changes), approvals, limit changes: the audit rows stamped in
  the day's wall-time window (``EodSession``); open reconciliation breaks: those open at the window's end.

Every value in the returned content is a string (``core``); a missing figure is "".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Q

from desk.clock import NEW_YORK
from desk.money import cash as to_cash
from ops_app.eod import core

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Day:
    session: date
    market_open: datetime
    market_close: datetime
    wall_start: datetime | None
    wall_end: datetime


def _s(v) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        return "" if v != v else f"{v:.2f}"
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)


def _money(v: Decimal | None) -> str:
    return "" if v is None else format(Decimal(v).quantize(CENT), "f")


def _qty(v: Decimal | None) -> str:
    if v is None:
        return ""
    v = Decimal(v)
    return format(v.quantize(Decimal(1)) if v == v.to_integral_value() else v.normalize(), "f")


def _pct(num: Decimal | None, den: Decimal | None) -> str:
    if num is None or not den:
        return ""
    return f"{float(num / den) * 100:.2f}"


def _in_window(field: str, day: Day) -> Q:
    q = Q(**{f"{field}__lte": day.wall_end})
    if day.wall_start is not None:
        q &= Q(**{f"{field}__gt": day.wall_start})
    return q


# --- the book at the close --------------------------------------------------------------------


@dataclass(frozen=True)
class ClosingBook:
    portfolio: object
    value: object  # portfolio_app.valuation.BookValue
    realised: dict[str, Decimal]


def closing_book(portfolio, day: Day) -> ClosingBook:
    """The portfolio's book as it stood at ``day``'s close, valued by the desk's one valuation.

    Fills after the close (``ts_event`` > close) are taken back: quantity, cash (their notional and
    commission, to the cent, as ``fill_apply`` moved it) and realised P&L. A position they touched has its
    average cost replayed from its fills up to the close (``portfolio_app.accounting``); untouched, it is
    the position's own.
    """
    from orders_app.models import Fill
    from portfolio_app.accounting import apply_fill
    from portfolio_app.models import Position
    from portfolio_app.valuation import Holding, book_value
    from market_app.marks import marks_at

    positions = {p.instrument.symbol: p for p in Position.objects.filter(portfolio=portfolio).select_related("instrument")}
    later = list(
        Fill.objects.filter(order__portfolio=portfolio, ts_event__gt=day.market_close)
        .values_list("order__instrument__symbol", "order__side", "last_qty", "last_px", "commission", "realised_pnl")
    )
    qty = {s: p.quantity for s, p in positions.items()}
    avg = {s: p.avg_cost for s, p in positions.items()}
    realised = {s: p.realised_pnl for s, p in positions.items()}
    cash = portfolio.cash
    touched = set()
    for symbol, side, q, px, commission, rpnl in later:
        signed = q if side == "BUY" else -q
        qty[symbol] = qty.get(symbol, Decimal(0)) - signed
        cash -= to_cash(-signed * px) - to_cash(commission)
        realised[symbol] = realised.get(symbol, Decimal(0)) - rpnl
        touched.add(symbol)
    for symbol in touched:
        fills = (
            Fill.objects.filter(order__portfolio=portfolio, order__instrument__symbol=symbol, ts_event__lte=day.market_close)
            .order_by("ts_event", "id").values_list("order__side", "last_qty", "last_px")
        )
        q0, c0 = Decimal(0), Decimal(0)
        for side, q, px in fills:
            ch = apply_fill(quantity=q0, avg_cost=c0, signed_qty=q if side == "BUY" else -q, px=px)
            q0, c0 = ch.quantity, ch.avg_cost
        if q0 == qty[symbol]:
            avg[symbol] = c0  # else the position predates its fills (loaded, not traded): keep its cost
    holdings = [Holding(s, qty[s], avg.get(s, Decimal(0))) for s in sorted(qty) if qty[s]]
    marks = marks_at([h.symbol for h in holdings], day.market_close)
    value = book_value(cash=cash, holdings=holdings, marks=marks, market_time=day.market_close)
    return ClosingBook(portfolio=portfolio, value=value, realised=realised)


def _base(portfolio_ids, *, before: date, fallback_from: date, session: date):
    """The NAV base of a period: the last snapshot before ``before``, else the first from ``fallback_from``
    (before ``session``). Sums over the portfolios; returns (session, nav) or (None, None)."""
    from portfolio_app.models import NavSnapshot

    out_session, total = None, Decimal(0)
    for pid in portfolio_ids:
        snap = NavSnapshot.objects.filter(portfolio_id=pid, session__lt=before).order_by("-session").first()
        if snap is None:
            snap = (NavSnapshot.objects.filter(portfolio_id=pid, session__gte=fallback_from, session__lt=session)
                    .order_by("session").first())
        if snap is None:
            return None, None
        out_session = snap.session if out_session is None else min(out_session, snap.session)
        total += snap.nav
    return out_session, total


# --- the report -----------------------------------------------------------------------------------


def report_content(*, portfolios: list, day: Day, scope: str, scope_key: str, label: str) -> dict:
    """The content of the report of ``portfolios`` (one for a portfolio's report, every one for the desk's)."""
    pids = [p.pk for p in portfolios]
    names = {p.pk: p.name for p in portfolios}

    books = [closing_book(p, day) for p in portfolios]
    nav = sum((b.value.nav for b in books), Decimal(0))
    cash = sum((b.value.cash for b in books), Decimal(0))
    gross = sum((b.value.gross for b in books), Decimal(0))
    net = sum((b.value.net for b in books), Decimal(0))
    positions = []
    for b in books:
        rows = sorted(b.value.positions.values(), key=lambda v: (-abs(v.market_value), v.symbol))
        for v in rows:
            positions.append({
                "portfolio": b.portfolio.name, "symbol": v.symbol, "quantity": _qty(v.quantity),
                "avg_cost": _s(v.avg_cost), "mark": _s(v.mark), "market_value": _money(v.market_value),
                "weight_pct": f"{v.weight * 100:.2f}", "unrealised_pnl": _money(v.unrealised_pnl),
                "realised_pnl": _money(b.realised.get(v.symbol, Decimal(0))),
            })

    nav_c = nav.quantize(CENT)
    prev_session, prev_nav = _base(pids, before=day.session, fallback_from=date.max, session=day.session)
    month0 = day.session.replace(day=1)
    year0 = day.session.replace(month=1, day=1)
    mtd_session, mtd_nav = _base(pids, before=month0, fallback_from=month0, session=day.session)
    ytd_session, ytd_nav = _base(pids, before=year0, fallback_from=year0, session=day.session)

    fills, orders, tca_venue, tca_algo, fill_totals = _trading(pids, names, day)
    limits = _limits(portfolios, day)
    breaches = _breaches(pids, names, day)
    denied = _denied(pids, names, day)
    overrides = _overrides(pids, day)
    approvals = _approvals(pids, names, day)
    limit_changes = _limit_changes(pids, day)
    recon = _recon_breaks(day)

    summary = {
        "nav": _money(nav_c), "cash": _money(cash), "gross": _money(gross), "net": _money(net),
        "positions": str(len(positions)),
        "prev_session": _s(prev_session), "prev_nav": _money(prev_nav),
        "pnl_daily": _money(nav_c - prev_nav) if prev_nav is not None else "",
        "pnl_daily_pct": _pct(nav_c - prev_nav, prev_nav) if prev_nav is not None else "",
        "mtd_base_session": _s(mtd_session), "mtd_base_nav": _money(mtd_nav),
        "pnl_mtd": _money(nav_c - mtd_nav) if mtd_nav is not None else "",
        "pnl_mtd_pct": _pct(nav_c - mtd_nav, mtd_nav) if mtd_nav is not None else "",
        "ytd_base_session": _s(ytd_session), "ytd_base_nav": _money(ytd_nav),
        "pnl_ytd": _money(nav_c - ytd_nav) if ytd_nav is not None else "",
        "pnl_ytd_pct": _pct(nav_c - ytd_nav, ytd_nav) if ytd_nav is not None else "",
        "realised_today": _money(fill_totals["realised"]), "fees_today": _money(fill_totals["fees"]),
        "fills": str(len(fills)), "orders": str(len(orders)), "filled_notional": _money(fill_totals["notional"]),
        "denied": str(len(denied)), "breaches": str(len(breaches)), "open_breaks": str(len(recon)),
    }
    meta = {
        "scope": scope, "scope_key": scope_key, "portfolio": label, "session": day.session.isoformat(),
        "market_open": day.market_open.isoformat(), "market_close": day.market_close.isoformat(),
        "wall_start": _s(day.wall_start), "wall_end": day.wall_end.isoformat(), "currency": "USD",
    }
    content = {
        "format": core.FORMAT, "meta": meta, "summary": summary,
        "tables": {
            "positions": positions, "orders": orders, "fills": fills, "tca_venue": tca_venue, "tca_algo": tca_algo,
            "limits": limits, "breaches": breaches, "denied": denied, "overrides": overrides, "approvals": approvals,
            "limit_changes": limit_changes, "recon_breaks": recon,
        },
    }
    core.check_content(content)
    return content


def _trading(pids, names, day: Day):
    """Fills of the session (market time), the parents they belong to or that arrived in the day, and TCA."""
    from orders_app.models import Fill, Order
    from orders_app.selectors import arrival_slippage_bps, order_tca

    fills_qs = Fill.objects.filter(order__portfolio_id__in=pids, ts_event__gte=day.market_open,
                                   ts_event__lte=day.market_close)
    fill_rows = list(fills_qs.select_related("order", "order__instrument", "venue", "order__parent").order_by("ts_event", "id"))
    parent_of = {f.pk: (f.order.parent_id or f.order_id) for f in fill_rows}
    parent_ids = set(parent_of.values())
    arrived = Order.objects.filter(portfolio_id__in=pids, parent__isnull=True).filter(_in_window("created_at", day))
    parent_ids |= set(arrived.exclude(status="DENIED").values_list("id", flat=True))
    parents = list(Order.objects.filter(pk__in=parent_ids).select_related("instrument", "portfolio").order_by("created_at", "id"))

    fills, totals = [], {"realised": Decimal(0), "fees": Decimal(0), "notional": Decimal(0)}
    for f in fill_rows:
        fills.append({
            "portfolio": names[f.order.portfolio_id], "time": f.ts_event.isoformat(), "trade_id": f.trade_id,
            "client_order_id": f.order.client_order_id, "symbol": f.order.instrument.symbol, "side": f.order.side,
            "quantity": _qty(f.last_qty), "price": _s(f.last_px), "venue": f.venue.code if f.venue_id else "",
            "commission": _money(f.commission), "liquidity": f.liquidity_side, "realised_pnl": _money(f.realised_pnl),
        })
        totals["realised"] += f.realised_pnl
        totals["fees"] += f.commission
        totals["notional"] += to_cash(f.last_qty * f.last_px)

    orders = []
    for o in parents:
        slip = arrival_slippage_bps(o)
        orders.append({
            "portfolio": names[o.portfolio_id], "client_order_id": o.client_order_id, "symbol": o.instrument.symbol,
            "side": o.side, "quantity": _qty(o.quantity), "filled_qty": _qty(o.filled_qty), "avg_px": _s(o.avg_px),
            "algo": o.algo, "status": o.status, "arrival_px": _s(o.arrival_px), "slippage_bps": _s(slip),
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
            vrep = order_tca(o, vf)
            if vrep is not None:
                _add(venue_acc[venue], vrep, parent_qty=None)
    tca_venue = [_tca_row("venue", k, a) for k, a in sorted(venue_acc.items())]
    tca_algo = [_tca_row("algo", k, a) for k, a in sorted(algo_acc.items())]
    for row in tca_venue:
        row.pop("fill_rate_pct")
    return fills, orders, tca_venue, tca_algo, totals


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
        key: name, "orders": str(a["orders"]), "fills": str(a["fills"]), "filled_qty": _qty(a["qty"]),
        "notional": _money(a["notional"]), "fees": _money(a["fees"]),
        "fees_bps": f"{float(a['fees'] / a['notional'] * 10_000):.2f}" if a["notional"] else "",
        "slippage_arrival_bps": f"{a['slip_a'] / a['w_a']:.2f}" if a["w_a"] else "",
        "slippage_vwap_bps": f"{a['slip_v'] / a['w_v']:.2f}" if a["w_v"] else "",
        "fill_rate_pct": f"{float(a['qty'] / a['parent_qty']) * 100:.2f}" if a["parent_qty"] else "",
    }


def _limits(portfolios, day: Day) -> list[dict]:
    """Each limit's utilisation at the close, per portfolio (the risk page's figure, at the close's market time)."""
    from django.utils import timezone

    from market_app.marks import MissingMark
    from risk_app.checks import KINDS, limit_utilisation
    from risk_app.desk_book import desk_context
    from risk_app.models import RiskLimit
    from risk_app.services.pretrade import engine_get
    from risk_app.snapshots import snapshot_load

    engine = engine_get()
    compiled = {str(c.id): c for c in engine.limits}
    rows_by_id = {str(r.pk): r for r in RiskLimit.objects.filter(enabled=True)}
    out = []
    for p in portfolios:
        try:
            loaded = snapshot_load(portfolio_id=p.pk, now=timezone.now(), market_now=day.market_close, need_returns=True)
            ctx = desk_context(engine=engine, portfolio_id=p.pk, loaded=loaded)
            util = limit_utilisation([c.limit for c in engine.limits], loaded.snapshot, ctx)
        except MissingMark:
            util = {}
        for key in sorted(util, key=lambda k: (rows_by_id[k].name if k in rows_by_id else k)):
            u, c, r = util[key], compiled.get(key), rows_by_id.get(key)
            if r is None:
                continue
            info = KINDS.get(r.kind)
            over = u is not None and (u >= 1.0 if r.kind == "restricted_instruments" else u > 1.0 + 1e-9)
            out.append({
                "portfolio": p.name, "limit": r.name, "kind": info.label if info else r.kind,
                "scope": r.scope if not r.scope_key else f"{r.scope} {r.scope_key}", "threshold": _s(r.threshold.normalize()),
                "action": r.action, "utilisation_pct": "" if u is None or u != u else f"{u * 100:.1f}",
                "over": "yes" if over else "no",
            })
    return out


def _breaches(pids, names, day: Day) -> list[dict]:
    from risk_app.models import RiskCheck

    rows = (RiskCheck.objects.filter(portfolio_id__in=pids).filter(_in_window("ts", day)).exclude(breaches=[])
            .order_by("ts", "id"))
    out = []
    for r in rows:
        limits = "; ".join(
            (b.get("name") or b.get("limit") or b.get("kind") or "") + (f" ({b['action']})" if b.get("action") else "")
            if isinstance(b, dict) else str(b)
            for b in r.breaches
        )
        out.append({
            "portfolio": names.get(r.portfolio_id, ""), "time": r.ts.isoformat(), "client_order_id": r.client_order_id,
            "symbol": r.symbol, "side": r.side, "quantity": _qty(r.quantity), "passed": "yes" if r.passed else "no",
            "limits": limits,
        })
    return out


def _denied(pids, names, day: Day) -> list[dict]:
    from orders_app.models import OrderEvent

    events = (OrderEvent.objects.filter(order__portfolio_id__in=pids, to_status="DENIED").filter(_in_window("ts", day))
              .select_related("order", "order__instrument").order_by("ts", "id"))
    return [{
        "portfolio": names[e.order.portfolio_id], "time": e.ts.isoformat(), "client_order_id": e.order.client_order_id,
        "symbol": e.order.instrument.symbol, "side": e.order.side, "quantity": _qty(e.order.quantity),
        "reason": e.reason or e.order.reason,
    } for e in events]


def _overrides(pids, day: Day) -> list[dict]:
    from risk_app.models import TradingStateChange

    scopes = ["desk", *(f"portfolio:{pid}" for pid in pids)]
    rows = (TradingStateChange.objects.filter(scope__in=scopes).filter(_in_window("ts", day))
            .select_related("actor", "confirmed_by").order_by("ts", "id"))
    return [{
        "time": r.ts.isoformat(), "scope": r.scope, "from_state": r.from_state, "to_state": r.to_state,
        "actor": r.actor.username if r.actor else "", "confirmed_by": r.confirmed_by.username if r.confirmed_by else "",
        "reason": r.reason,
    } for r in rows]


def _approvals(pids, names, day: Day) -> list[dict]:
    from portfolio_app.models import ProposalEvent

    rows = (ProposalEvent.objects.filter(proposal__portfolio_id__in=pids, to_status__in=("APPROVED", "REJECTED"))
            .filter(_in_window("ts", day)).select_related("proposal", "actor").order_by("ts", "id"))
    return [{
        "portfolio": names[r.proposal.portfolio_id], "time": r.ts.isoformat(), "proposal": f"#{r.proposal_id}",
        "from_status": r.from_status, "to_status": r.to_status, "actor": r.actor.username if r.actor else "",
        "reason": r.reason,
    } for r in rows]


def _limit_changes(pids, day: Day) -> list[dict]:
    """Every limit version written in the day (who, when, before, after, why) and four-eyes requests decided."""
    from risk_app.models import PendingLimitChange, RiskLimit
    from risk_app.selectors import HISTORY_FIELDS

    concerns = Q(scope__in=("desk", "instrument")) | Q(scope="portfolio", scope_key__in=[str(p) for p in pids])
    hist = list(RiskLimit.history.filter(concerns).filter(_in_window("history_date", day))
                .select_related("history_user").order_by("history_date", "history_id"))
    out = []
    for h in hist:
        prev = h.prev_record
        after = {f: _s(getattr(h, f)) for f in HISTORY_FIELDS}
        before = {f: _s(getattr(prev, f)) for f in HISTORY_FIELDS} if prev is not None else {}
        changed = [f for f in HISTORY_FIELDS if before.get(f) != after[f]] if prev is not None else []
        kind = {"+": "created", "~": "changed", "-": "deleted"}[h.history_type]
        out.append({
            "time": h.history_date.isoformat(), "limit": h.name, "change": kind,
            "who": h.history_user.username if h.history_user else "",
            "approved_by": "", "before": "; ".join(f"{f}={before[f]}" for f in changed),
            "after": "; ".join(f"{f}={after[f]}" for f in changed) if kind == "changed" else "",
            "why": h.history_change_reason or "",
        })
        if h.approved_by_id:
            from django.contrib.auth import get_user_model

            out[-1]["approved_by"] = get_user_model().objects.filter(pk=h.approved_by_id).values_list("username", flat=True).first() or ""
    for c in (PendingLimitChange.objects.exclude(status="pending").filter(_in_window("decided_at", day))
              .select_related("requested_by", "decided_by").order_by("decided_at", "id")):
        out.append({
            "time": c.decided_at.isoformat(), "limit": c.limit_name, "change": f"four-eyes {c.status}",
            "who": c.requested_by.username, "approved_by": c.decided_by.username if c.decided_by else "",
            "before": "; ".join(f"{k}={v}" for k, v in sorted(c.before.items())),
            "after": "; ".join(f"{k}={v}" for k, v in sorted(c.proposed.items())),
            "why": c.reason + (f" / {c.decision_reason}" if c.decision_reason else ""),
        })
    out.sort(key=lambda r: r["time"])
    return out


def _recon_breaks(day: Day) -> list[dict]:
    """Reconciliation breaks open at the end of the day (found by then, not resolved by then)."""
    from fix_app.models import ReconciliationBreak

    rows = (ReconciliationBreak.objects.filter(created_at__lte=day.wall_end)
            .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=day.wall_end))
            .select_related("venue", "order").order_by("created_at", "id"))
    return [{
        "id": str(b.pk), "found": b.created_at.isoformat(), "venue": b.venue.code, "kind": b.kind,
        "order": b.order.client_order_id if b.order else str(b.detail.get("client_order_id") or b.detail.get("cl_ord_id") or ""),
        "what": str(b.detail.get("why") or ""),
    } for b in rows]


def session_label(day: date) -> str:
    return day.strftime("%a %d %b %Y")


def display_time(iso: str) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(NEW_YORK).strftime("%H:%M:%S")
