"""Reads for the Overview page: one portfolio at the market time, the way a trader lands on it.

NAV and exposures by the one book valuation (``portfolio_app.reports.portfolio_book``); today's P&L against the
previous session's closing NAV snapshot (DESIGN.md, "Positions and P&L"); VaR from the
latest risk snapshot; the open proposals, latest fills and active alerts; the equity curve
(NAV snapshots) against the benchmark's closes rebased to the same start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from portfolio_app.reports import Book, portfolio_book

NEW_YORK = ZoneInfo("America/New_York")
FILLS_SHOWN = 30
ALERTS_SHOWN = 12
CHART_SESSIONS = 250  # about a year of sessions on the equity chart
BENCH_ONLY_SESSIONS = 60  # before the first NAV snapshot: the benchmark's recent path alone


@dataclass
class ProposalLine:
    id: int
    status: str
    strategy: str
    trigger: str
    trades: int
    turnover: Decimal
    estimated_costs: Decimal
    warned: int
    blocked: int
    expires_at: datetime | None
    may_decide: bool


@dataclass
class OverviewState:
    book: Book
    market_now: datetime
    prev_nav: Decimal | None
    prev_session: date | None
    pnl_today: Decimal | None
    pnl_today_pct: float | None
    var95: Decimal | None
    var_method: str
    risk_as_of: date | None
    state: str
    desk_state: str
    proposals: list[ProposalLine]
    fills: list[Any]
    alerts: list[Any]
    chart: dict[str, Any]
    allocation: list[dict[str, Any]]
    target_label: str
    latest_proposal: Any = None
    weights: dict[str, float] = field(default_factory=dict)


def _pending_proposals(portfolio, user) -> list[ProposalLine]:
    from portfolio_app.models import OPEN_PROPOSAL_STATUSES, RebalanceProposal
    from portfolio_app.selectors import may_decide

    decides = may_decide(user, portfolio)
    out = []
    qs = RebalanceProposal.objects.filter(portfolio=portfolio, status__in=OPEN_PROPOSAL_STATUSES).prefetch_related("trades")
    for p in qs.order_by("-created_at")[:3]:
        risks = [t.risk or {} for t in p.trades.all()]
        out.append(ProposalLine(
            id=p.pk, status=p.status, strategy=p.strategy, trigger=p.trigger, trades=len(risks), turnover=p.turnover,
            estimated_costs=p.estimated_costs, warned=sum(1 for r in risks if r.get("warnings")),
            blocked=sum(1 for r in risks if r.get("passed") is False), expires_at=p.expires_at, may_decide=decides,
        ))
    return out


def _latest_fills(portfolio_id: int) -> list:
    from orders_app.models import Fill

    return list(
        Fill.objects.filter(order__portfolio_id=portfolio_id)
        .select_related("order__instrument", "venue")
        .only("trade_id", "last_qty", "last_px", "ts_event", "order__side", "order__client_order_id",
              "order__instrument__symbol", "venue__code")
        .order_by("-ts_event", "-id")[:FILLS_SHOWN]
    )


def _chart(portfolio, *, nav: Decimal, market_now: datetime) -> dict[str, Any]:
    """NAV at each session close (snapshots) and now, and the benchmark rebased to the first point.

    Before there are snapshots, the benchmark's recent closes alone, rebased to today's NAV, so
    the panel shows the market the book lives in rather than a blank box.
    """
    from market_app.models import Instrument, PriceBar
    from portfolio_app.models import NavSnapshot
    from market_app.marks import marks_found

    market_date = market_now.astimezone(NEW_YORK).date()
    snaps = list(
        NavSnapshot.objects.filter(portfolio=portfolio, session__lt=market_date)
        .order_by("-session").values_list("session", "nav")[:CHART_SESSIONS]
    )
    snaps.reverse()
    equity = [[s.isoformat(), float(v)] for s, v in snaps] + [[market_date.isoformat(), float(nav)]]
    bench = portfolio.benchmark or Instrument.objects.filter(symbol="SPX").first()
    out: dict[str, Any] = {"equity": equity, "bench": [], "bench_symbol": bench.symbol if bench else None,
                           "today": market_date.isoformat()}
    if bench is None:
        return out
    bars = PriceBar.objects.filter(instrument=bench, date__lt=market_date)
    if snaps:
        bars = bars.filter(date__gte=snaps[0][0]).order_by("date")
        closes = list(bars.values_list("date", "close"))
    else:
        closes = list(bars.order_by("-date").values_list("date", "close")[:BENCH_ONLY_SESSIONS])
        closes.reverse()
    live = marks_found([bench.symbol], market_now)[0].get(bench.symbol)
    if live is not None:
        closes.append((market_date, live))
    if not closes:
        return out
    # Rebased to the first NAV snapshot; with none yet, so that it ends at today's NAV.
    start_equity = equity[0][1] if snaps else float(nav)
    base = float(closes[0][1] if snaps else closes[-1][1]) or 1.0
    out["bench"] = [[d.isoformat(), float(c) / base * start_equity] for d, c in closes]
    return out


def overview_state(portfolio, *, market_now: datetime, user) -> OverviewState:
    from portfolio_app import reports
    from portfolio_app.models import NavSnapshot
    from risk_app.selectors import alerts_list, desk_trading_state, risk_snapshot, trading_state_of

    book = portfolio_book(portfolio, market_now)
    market_date = market_now.astimezone(NEW_YORK).date()
    prev = NavSnapshot.objects.filter(portfolio=portfolio, session__lt=market_date).order_by("-session").first()
    pnl = (book.nav - prev.nav).quantize(Decimal("0.01")) if prev else None
    pnl_pct = float(pnl / prev.nav) if prev and prev.nav else None

    snap = risk_snapshot(portfolio.pk)
    report = snap.report if snap else {}
    var95, method = None, ""
    for key, label in (("var_hist_95", "historical"), ("var_param_95", "parametric")):
        if report.get(key) is not None:
            var95, method = Decimal(str(report[key])).quantize(Decimal("0.01")), label
            break

    own = trading_state_of(f"portfolio:{portfolio.pk}")
    weights = book.weights
    latest = reports.latest_proposal(portfolio)
    return OverviewState(
        book=book,
        market_now=market_now,
        prev_nav=prev.nav if prev else None,
        prev_session=prev.session if prev else None,
        pnl_today=pnl,
        pnl_today_pct=pnl_pct,
        var95=var95,
        var_method=method,
        risk_as_of=snap.market_date if snap else None,
        state=own.state if own else "ACTIVE",
        desk_state=desk_trading_state(),
        proposals=_pending_proposals(portfolio, user),
        fills=_latest_fills(portfolio.pk),
        alerts=list(alerts_list(status="active", portfolio_ids=[portfolio.pk], limit=ALERTS_SHOWN)),
        chart=_chart(portfolio, nav=book.nav, market_now=market_now),
        allocation=reports.allocation_rows(weights, latest.target_weights if latest else {}, limit=16),
        target_label=f"#{latest.pk} target" if latest else "target",
        latest_proposal=latest,
        weights=weights,
    )
