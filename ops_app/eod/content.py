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

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from desk.money import cash as to_cash
from ops_app.eod import audit, core
from ops_app.eod.fmt import CENT, Day, money, pct, qty, text
from ops_app.eod.trading import trading


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
    held = {s: p.quantity for s, p in positions.items()}
    avg = {s: p.avg_cost for s, p in positions.items()}
    realised = {s: p.realised_pnl for s, p in positions.items()}
    cash = portfolio.cash
    touched = set()
    for symbol, side, q, px, commission, rpnl in later:
        signed = q if side == "BUY" else -q
        held[symbol] = held.get(symbol, Decimal(0)) - signed
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
        if q0 == held[symbol]:
            avg[symbol] = c0  # else the position predates its fills (loaded, not traded): keep its cost
    holdings = [Holding(s, held[s], avg.get(s, Decimal(0))) for s in sorted(held) if held[s]]
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
                "portfolio": b.portfolio.name, "symbol": v.symbol, "quantity": qty(v.quantity),
                "avg_cost": text(v.avg_cost), "mark": text(v.mark), "market_value": money(v.market_value),
                "weight_pct": f"{v.weight * 100:.2f}", "unrealised_pnl": money(v.unrealised_pnl),
                "realised_pnl": money(b.realised.get(v.symbol, Decimal(0))),
            })

    nav_c = nav.quantize(CENT)
    prev_session, prev_nav = _base(pids, before=day.session, fallback_from=date.max, session=day.session)
    month0 = day.session.replace(day=1)
    year0 = day.session.replace(month=1, day=1)
    mtd_session, mtd_nav = _base(pids, before=month0, fallback_from=month0, session=day.session)
    ytd_session, ytd_nav = _base(pids, before=year0, fallback_from=year0, session=day.session)

    fills, orders, tca_venue, tca_algo, fill_totals = trading(pids, names, day)
    limits = _limits(portfolios, day)
    breaches = audit.breaches(pids, names, day)
    denied = audit.denied(pids, names, day)
    overrides = audit.overrides(pids, day)
    approvals = audit.approvals(pids, names, day)
    limit_changes = audit.limit_changes(pids, day)
    recon = audit.recon_breaks(day)

    summary = {
        "nav": money(nav_c), "cash": money(cash), "gross": money(gross), "net": money(net),
        "positions": str(len(positions)),
        "prev_session": text(prev_session), "prev_nav": money(prev_nav),
        "pnl_daily": money(nav_c - prev_nav) if prev_nav is not None else "",
        "pnl_daily_pct": pct(nav_c - prev_nav, prev_nav) if prev_nav is not None else "",
        "mtd_base_session": text(mtd_session), "mtd_base_nav": money(mtd_nav),
        "pnl_mtd": money(nav_c - mtd_nav) if mtd_nav is not None else "",
        "pnl_mtd_pct": pct(nav_c - mtd_nav, mtd_nav) if mtd_nav is not None else "",
        "ytd_base_session": text(ytd_session), "ytd_base_nav": money(ytd_nav),
        "pnl_ytd": money(nav_c - ytd_nav) if ytd_nav is not None else "",
        "pnl_ytd_pct": pct(nav_c - ytd_nav, ytd_nav) if ytd_nav is not None else "",
        "realised_today": money(fill_totals["realised"]), "fees_today": money(fill_totals["fees"]),
        "fills": str(len(fills)), "orders": str(len(orders)), "filled_notional": money(fill_totals["notional"]),
        "denied": str(len(denied)), "breaches": str(len(breaches)), "open_breaks": str(len(recon)),
    }
    meta = {
        "scope": scope, "scope_key": scope_key, "portfolio": label, "session": day.session.isoformat(),
        "market_open": day.market_open.isoformat(), "market_close": day.market_close.isoformat(),
        "wall_start": text(day.wall_start), "wall_end": day.wall_end.isoformat(), "currency": "USD",
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
            u, r = util[key], rows_by_id.get(key)
            if r is None:
                continue
            info = KINDS.get(r.kind)
            over = u is not None and (u >= 1.0 if r.kind == "restricted_instruments" else u > 1.0 + 1e-9)
            out.append({
                "portfolio": p.name, "limit": r.name, "kind": info.label if info else r.kind,
                "scope": r.scope if not r.scope_key else f"{r.scope} {r.scope_key}", "threshold": text(r.threshold.normalize()),
                "action": r.action, "utilisation_pct": "" if u is None or u != u else f"{u * 100:.1f}",
                "over": "yes" if over else "no",
            })
    return out


