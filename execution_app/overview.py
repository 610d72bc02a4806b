"""Reads for the Overview page: one portfolio at the market time, the way a trader lands on it.

NAV and exposures by the one book valuation (``portfolio_app.reports.portfolio_book``); today's P&L against the
previous session's closing NAV snapshot (DESIGN.md, "Positions and P&L"); VaR from the
latest risk snapshot; the open proposals, working orders, latest fills and active alerts; the equity
curve (NAV snapshots) against the benchmark's closes rebased to the same start; today's NAV through the
session (the book held now, at the marks of each step since the open); and what the user looking at it
can do next, by role.
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
WORKING_SHOWN = 12
INTRADAY_STEP_MINUTES = 15  # today's NAV chart: one point per step since the open, then live ticks


@dataclass
class NextStep:
    """One thing the user can do now, said as a sentence with the page that does it."""

    text: str
    href: str
    action: str  # the link's words
    urgent: bool = False


@dataclass
class WorkingOrder:
    id: int
    client_order_id: str
    symbol: str
    side: str
    quantity: Decimal
    filled_qty: Decimal
    avg_px: Decimal | None
    algo: str
    status: str
    created_at: datetime

    @property
    def progress(self) -> float:
        return float(self.filled_qty / self.quantity) if self.quantity else 0.0


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
    targets: dict[str, float] = field(default_factory=dict)
    working: list[WorkingOrder] = field(default_factory=list)
    intraday: dict[str, Any] = field(default_factory=dict)
    next_steps: list[NextStep] = field(default_factory=list)

    @property
    def position_lines(self) -> list[tuple[Any, float | None, float | None]]:
        """Each position with its target weight (the latest proposal's) and the gap to it, in weight."""
        out = []
        for r in self.book.positions:
            # A target that leaves a held symbol out sells it: its target is zero.
            target = float(self.targets.get(r.symbol, 0.0)) if self.targets else None
            # To a tenth of a percent, as shown: a gap of -0.0003 is no gap ("+0.0%", not "-0.0%").
            out.append((r, target, None if target is None else round(target - r.weight, 3) + 0.0))
        return out


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


def _working_orders(portfolio_id: int) -> list[WorkingOrder]:
    """The portfolio's open parent orders (a rebalance's, a trader's), newest first."""
    from orders_app.models import Order
    from orders_app.states import OPEN_STATUSES

    rows = (
        Order.objects.filter(portfolio_id=portfolio_id, parent__isnull=True, status__in=OPEN_STATUSES)
        .select_related("instrument").order_by("-created_at", "-id")[:WORKING_SHOWN]
    )
    return [WorkingOrder(o.pk, o.client_order_id, o.instrument.symbol, o.side, o.quantity, o.filled_qty, o.avg_px,
                         o.algo, o.status, o.created_at) for o in rows]


def _intraday(book: Book, *, market_now: datetime, prev_nav: Decimal | None) -> dict[str, Any]:
    """Today's NAV: the book held now at the marks of every step from the open to now, and now.

    Before the open (or on a closed day) there is no session to draw: ``points`` is empty. The line
    is what the current holdings were worth through the day, which is the trader's question ("how
    has my book moved today"); fills made during the day move it from the moment they are booked.
    """
    from datetime import timedelta

    from market_app.marks import marks_found, session_at

    session = session_at(market_now)
    out: dict[str, Any] = {"points": [], "prev_nav": float(prev_nav) if prev_nav is not None else None}
    if session is None or not (session.open <= market_now < session.close):
        return out
    out.update(open=session.open.isoformat(), close=session.close.isoformat())
    from django.core.cache import cache

    held = [(r.symbol, r.quantity) for r in book.positions]
    cash = float(book.cash)
    # The steps already past do not change until the book does: kept per book and session (the page
    # is redrawn after every fill and on every refresh).
    import hashlib

    digest = hashlib.sha1(repr((str(book.cash), [(s, str(q)) for s, q in held])).encode(), usedforsecurity=False).hexdigest()[:16]
    key = f"ov:intraday:{book.portfolio.pk}:{session.day}:{digest}"
    known = cache.get(key) or {}
    t = session.open
    step = timedelta(minutes=INTRADAY_STEP_MINUTES)
    while t < market_now:
        at = t.isoformat()
        if at not in known:
            marks, _ = marks_found([s for s, _ in held], t)
            known[at] = round(cash + sum(float(q) * float(marks.get(s, 0)) for s, q in held), 2)
        out["points"].append([at, known[at]])
        t += step
    cache.set(key, known, 3600)
    out["points"].append([market_now.isoformat(), float(book.nav)])
    return out


def _next_steps(user, portfolio, proposals: list[ProposalLine], working: list[WorkingOrder], alerts: int,
                latest=None) -> list[NextStep]:
    """What this user can do now on this portfolio, most pressing first (the desk's roles, DESIGN.md)."""
    from django.urls import reverse

    from desk import roles
    from portfolio_app.models import RebalanceProposal

    steps: list[NextStep] = []
    trader = any(p.may_decide for p in proposals) or (roles.is_trader(user) and portfolio.traders.filter(pk=user.pk).exists())
    if trader:
        pending = [p for p in proposals if p.status == "PENDING_APPROVAL"]
        makers = dict(RebalanceProposal.objects.filter(pk__in=[p.id for p in pending]).values_list("pk", "created_by_id"))
        for p in pending:
            href = reverse("proposal-detail", args=[p.id])
            if makers.get(p.id) == user.pk:
                steps.append(NextStep(f"Proposal #{p.id} is your request: another trader of {portfolio.name} approves it "
                                      "(maker ≠ checker). You may withdraw it.", href, "View"))
            else:
                steps.append(NextStep(f"Proposal #{p.id} waits for your decision: {p.trades} trades, turnover "
                                      f"{float(p.turnover):.1%}. Check its risk, then approve or reject it.", href,
                                      "Review & approve", urgent=True))
        if working:
            steps.append(NextStep(f"{len(working)} order{'s' if len(working) != 1 else ''} working: watch them fill; amend "
                                  "or cancel one on the blotter.", reverse("orders"), "Open the blotter"))
        if not proposals and latest is not None and latest.status in ("STALE", "EXPIRED"):
            why = f" ({latest.reason.rstrip('.')})" if latest.reason else ""
            steps.append(NextStep(f"Proposal #{latest.pk} is {latest.status}{why}: it can no longer be approved. "
                                  "Request a fresh one at today's prices.", reverse("proposals"), "Request a rebalance",
                                  urgent=True))
        elif not proposals:
            steps.append(NextStep(f"No rebalance is open for {portfolio.name}: request one to bring the book to its "
                                  "strategy's target.", reverse("proposals"), "Request a rebalance"))
    if roles.is_risk_officer(user):
        from risk_app.selectors import pending_changes

        theirs = [c for c in pending_changes() if c.requested_by_id != user.pk]
        if theirs:
            n = len(theirs)
            steps.append(NextStep(f"{n} limit change{'s' if n != 1 else ''} by another officer "
                                  f"{'wait' if n != 1 else 'waits'} for your second pair of eyes (four eyes).",
                                  reverse("risk"), "Review changes", urgent=True))
        steps.append(NextStep("Watch limit usage; edit a limit (loosening needs a second officer), or halt or "
                              "reduce trading.", reverse("risk"), "Open Risk"))
    if roles.is_admin(user):
        steps.append(NextStep("Manage venues and their FIX sessions; agents, users and portfolios in the admin.",
                              reverse("venues"), "Open Venues"))
        steps.append(NextStep("Watch queues, workers and alert rules.", reverse("monitoring"), "Open Monitoring"))
    if alerts and not roles.is_admin(user):
        steps.append(NextStep(f"{alerts} active alert{'s' if alerts != 1 else ''} on {portfolio.name}: read them below.",
                              reverse("risk"), "Alerts"))
    if not steps:
        steps.append(NextStep(f"You may read {portfolio.name}; a trader of it decides its rebalances.",
                              reverse("portfolio"), "Open Portfolio"))
    return steps


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
    proposals = _pending_proposals(portfolio, user)
    working = _working_orders(portfolio.pk)
    alerts = list(alerts_list(status="active", portfolio_ids=[portfolio.pk], limit=ALERTS_SHOWN))
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
        proposals=proposals,
        fills=_latest_fills(portfolio.pk),
        alerts=alerts,
        chart=_chart(portfolio, nav=book.nav, market_now=market_now),
        allocation=reports.allocation_rows(weights, latest.target_weights if latest else {}, limit=16),
        target_label=f"#{latest.pk} target" if latest else "target",
        latest_proposal=latest,
        weights=weights,
        targets=dict(latest.target_weights) if latest else {},
        working=working,
        intraday=_intraday(book, market_now=market_now, prev_nav=prev.nav if prev else None),
        next_steps=_next_steps(user, portfolio, proposals, working, len(alerts), latest=latest),
    )
