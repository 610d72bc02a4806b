"""What the checks read, loaded from the database in a fixed, small number of queries.

``snapshot_load`` builds the ``PortfolioSnapshot`` + ``RiskContext`` of one
portfolio: positions at the mark, open orders (parents, their unfilled rest, as
if filled), recent order times, today's P&L against the previous session's NAV
snapshot, peak NAV, the kill switch of the desk and of the portfolio, and its
account (what open orders reserve of its buying power; ``risk_app.buying_power``).  It
never caches anything that changes with trading: every call reads afresh.  What is kept per process is
the SQL of its three reads (``desk.compiled``): building and compiling them cost the ORM more CPU than the
database takes to answer them.

Positions are valued by the desk's one book valuation (``portfolio_app.valuation``) at the
marks of the one mark rule (``market_app.marks``) at the clock's market time.  The returns
matrix for the VaR limit depends only on the last close at or before that time, so it is
cached per process by that date.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Q

from desk.clock import NEW_YORK
from desk.compiled import CompiledQuery
from desk.interfaces import OrderIntent, OrderStatus, PortfolioSnapshot, PositionSnapshot, Side, TradingState
from market_app.marks import last_close_day, marks_found
from portfolio_app.valuation import Holding, book_value
from risk_app.buying_power import OpenOrderRow, account_book_load
from risk_app.checks import RiskContext
from risk_app.measures import ReturnsMatrix

DESK_SCOPE = "desk"
RETURNS_LOOKBACK = 252
_STATE_RANK = {s.value: i for i, s in enumerate((TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED))}
_returns_lock = threading.Lock()
_returns_cache: dict[date, ReturnsMatrix | None] = {}


def portfolio_scope(portfolio_id: int) -> str:
    return f"portfolio:{portfolio_id}"


def trading_states_for(portfolio_id: int) -> tuple[TradingState, TradingState]:
    """(desk, portfolio) kill-switch states: one indexed query, never cached (the 1-second rule)."""
    from risk_app.models import TradingStateRecord

    rows = dict(
        TradingStateRecord.objects.filter(scope__in=[DESK_SCOPE, portfolio_scope(portfolio_id)]).values_list("scope", "state")
    )
    return TradingState(rows.get(DESK_SCOPE, "ACTIVE")), TradingState(rows.get(portfolio_scope(portfolio_id), "ACTIVE"))


def returns_for(market_date: date | None) -> ReturnsMatrix | None:
    """Daily returns of every instrument over the year up to the close of ``market_date`` (cached per date).

    Mid-session, pass the last closed session (``market_app.marks.last_close_day``): the day's
    own close is not known yet.
    """
    key = market_date or date.max
    with _returns_lock:
        if key in _returns_cache:
            return _returns_cache[key]
    import pandas as pd

    from market_app.models import PriceBar

    bars = PriceBar.objects.all()
    if market_date is not None:
        bars = bars.filter(date__lte=market_date, date__gte=market_date - timedelta(days=RETURNS_LOOKBACK * 2))
    rows = list(bars.values_list("instrument__symbol", "date", "close"))
    matrix = None
    if rows:
        frame = pd.DataFrame(rows, columns=["symbol", "date", "close"])
        frame["close"] = frame["close"].astype(float)
        prices = frame.pivot(index="date", columns="symbol", values="close").sort_index()
        if len(prices) >= 3:
            matrix = ReturnsMatrix.from_prices(prices, lookback=RETURNS_LOOKBACK)
    with _returns_lock:
        if len(_returns_cache) > 4:
            _returns_cache.clear()
        _returns_cache[key] = matrix
    return matrix


@dataclass(frozen=True)
class Loaded:
    snapshot: PortfolioSnapshot
    context: RiskContext
    instrument_ids: dict[str, int]
    limits_token: str | None = None  # the limits' version as read with the book (None: not read)
    lookback_s: float = 60.0  # how far back the recent orders were read
    with_returns: bool = False  # the returns matrix loaded (the VaR limit)
    with_times: bool = False  # a slice's load: the recent parents' times read (the rate limit)


def snapshot_load(
    *,
    portfolio_id: int,
    intents: Sequence[OrderIntent] = (),
    now: datetime,
    market_now: datetime,
    wall_clock: bool = True,
    lookback_s: float = 60.0,
    need_returns: bool = False,
    lock: bool = False,
) -> Loaded:
    """The committed book of one portfolio as the checks read it, in three queries: the portfolio row with
    everything about it that is one figure (NAV history, both kill switches, the limits' version token, the
    enabled venues' dearest fees), its positions, its open and recent orders.

    ``lock``: the first query also locks the portfolio row (``select_for_update``), for a caller that
    has not locked it yet and decides an order with the result.

    Orders named by the intents' ``client_order_id`` are left out of the book
    (an order being checked must not count against itself).  The caller holds
    the portfolio row lock when the result decides an order.  Raises ``MissingMark`` naming any
    held instrument without a price at ``market_now``; an order's instrument without one is
    left out of the marks, as before (the checks say it cannot be priced).
    """
    from market_app.models import Instrument
    from orders_app.states import OPEN_STATUSES

    market_date = market_now.astimezone(NEW_YORK).date()
    # One query for the portfolio row, its NAV history figures and both kill switches
    # (each read afresh: subqueries, nothing cached).
    rows = (_BOOK_ROW_LOCKED if lock else _BOOK_ROW).dicts(
        portfolio_id=portfolio_id, own_scope=portfolio_scope(portfolio_id), market_date=market_date)
    if not rows:
        from portfolio_app.models import Portfolio

        raise Portfolio.DoesNotExist(f"no portfolio {portfolio_id}")
    p = rows[0]
    desk_state, own_state = TradingState(p["desk_state"] or "ACTIVE"), TradingState(p["own_state"] or "ACTIVE")
    positions = _POSITIONS.tuples(portfolio_id=portfolio_id)
    exclude = {i.client_order_id for i in intents if i.client_order_id}
    since = now - timedelta(seconds=lookback_s)
    # The orders being checked are read too, for their proposal (the account's basket), then left out.
    proposal_of: dict[str, int] = {}
    order_rows = []
    for *row, coid, proposal_id, reserved in _ORDERS.tuples(portfolio_id=portfolio_id, since=since):
        if coid in exclude:
            if proposal_id is not None:
                proposal_of[coid] = proposal_id
            continue
        order_rows.append((*row, proposal_id, reserved))
    intent_symbols = {i.symbol for i in intents}
    ids: dict[str, int] = {sym: iid for iid, sym, *_ in positions}
    sectors: dict[str, str] = {sym: sec for _, sym, sec, *_ in positions if sec}
    for iid, sym, sec, *_ in order_rows:
        ids[sym] = iid
        if sec:
            sectors[sym] = sec
    missing = {i.symbol for i in intents if i.symbol not in ids and not i.sector}
    if missing:  # an intent that does not say its sector: read it (and whether the instrument exists)
        for iid, sym, sec in Instrument.objects.filter(symbol__in=missing).values_list("id", "symbol", "sector"):
            ids[sym] = iid
            if sec:
                sectors[sym] = sec
    for i in intents:  # an intent's own instrument, by what it says of itself (no lookup)
        if i.symbol not in sectors and i.sector:
            sectors[i.symbol] = i.sector
    found, _ = marks_found([*ids, *(s for s in intent_symbols if s not in ids and s not in missing)], market_now)
    value = book_value(cash=Decimal(p["cash"]), holdings=[Holding(sym, qty, avg) for _, sym, _, qty, avg in positions],
                       marks=found, market_time=market_now)
    marks = {sym: float(px) for sym, px in found.items()}
    pos_snap = {
        sym: PositionSnapshot(symbol=sym, quantity=qty, avg_cost=avg, mark=value.positions[sym].mark, sector=sec or "")
        for _, sym, sec, qty, avg in positions
    }
    nav = value.nav

    open_orders, recent, times, open_rows = [], [], [], []
    for _iid, sym, _sec, side, qty, filled, limit_px, arrival_px, status, created, proposal_id, reserved in order_rows:
        if status in OPEN_STATUSES:
            rest = qty - filled
            open_rows.append(OpenOrderRow(sym, side, rest, reserved, proposal_id, status, limit_px, arrival_px, created))
            if rest > 0:
                open_orders.append(OrderIntent(
                    portfolio_id=portfolio_id, symbol=sym, side=Side(side), quantity=rest,
                    limit_price=limit_px, reference_price=arrival_px, ts=created,
                ))
        if created >= since:
            times.append(created)
            recent.append(OrderIntent(portfolio_id=portfolio_id, symbol=sym, side=Side(side), quantity=qty, ts=created))

    peak, prev = p["nav_peak"], p["nav_prev"]
    peak_nav = max((x for x in (peak, p["peak_nav"]) if x is not None), default=None)
    snapshot = PortfolioSnapshot(
        portfolio_id=portfolio_id,
        cash=Decimal(p["cash"]),
        positions=pos_snap,
        open_orders=tuple(open_orders),
        pnl_today=(nav - prev) if prev is not None else Decimal(0),
        peak_nav=peak_nav,
        recent_order_times=tuple(sorted(times)),
        recent_orders=tuple(recent),
        trading_state=own_state,
        long_short=p["long_short"],
        name=p["name"],
        as_of=now,
    )
    context = RiskContext(
        marks=marks,
        sectors=sectors,
        returns=returns_for(last_close_day(market_now)) if need_returns else None,
        now=now,
        wall_clock=wall_clock,
        desk_state=desk_state,
        account=account_book_load(portfolio_id=portfolio_id, long_short=p["long_short"], initial_margin=p["initial_margin"],
                                  open_rows=open_rows, proposal_of=proposal_of,
                                  fees=[(p["fee_bps"], p["fee_min"])] if p["fee_bps"] is not None else []),
    )
    return Loaded(snapshot=snapshot, context=context, instrument_ids=ids, limits_token=p["limits_token"] or "",
                  lookback_s=lookback_s, with_returns=need_returns)


# snapshot_load's three reads, compiled once per process (``desk.compiled``: the ORM's build and compile of the
# portfolio row's subqueries cost more CPU than the database takes to answer all three).

def _book_row(*, portfolio_id: int, own_scope: str, market_date: date, lock: bool = False):
    """The portfolio row with everything about it that is one figure (``lock``: and its row lock)."""
    from django.db.models import Max, OuterRef, Subquery

    from orders_app.models import Venue
    from portfolio_app.models import NavSnapshot, Portfolio
    from risk_app.models import RiskLimitsVersion, TradingStateRecord

    navs_of = NavSnapshot.objects.filter(portfolio_id=OuterRef("pk"))
    state_of = TradingStateRecord.objects.values("state")
    enabled = Venue.objects.filter(enabled=True).order_by().values("enabled")
    rows = Portfolio.objects.select_for_update(of=("self",)) if lock else Portfolio.objects
    return (
        rows.filter(pk=portfolio_id)
        .annotate(
            nav_peak=Subquery(navs_of.order_by("-nav").values("nav")[:1]),
            nav_prev=Subquery(navs_of.filter(session__lt=market_date).order_by("-session").values("nav")[:1]),
            desk_state=Subquery(state_of.filter(scope=DESK_SCOPE)[:1]),
            own_state=Subquery(state_of.filter(scope=own_scope)[:1]),
            limits_token=Subquery(RiskLimitsVersion.objects.filter(pk=1).values("token")[:1]),
            # The dearest fee over venues, max(notional * bps, minimum), is max(notional * the top bps, the top minimum).
            fee_bps=Subquery(enabled.annotate(m=Max("taker_fee_bps")).values("m")[:1]),
            fee_min=Subquery(enabled.annotate(m=Max("min_fee")).values("m")[:1]),
        )
        .values("cash", "peak_nav", "name", "long_short", "initial_margin", "nav_peak", "nav_prev", "desk_state", "own_state",
                "limits_token", "fee_bps", "fee_min")
    )


def _positions(*, portfolio_id: int):
    from portfolio_app.models import Position

    return (Position.objects.filter(portfolio_id=portfolio_id).exclude(quantity=0)
            .values_list("instrument_id", "instrument__symbol", "instrument__sector", "quantity", "avg_cost"))


def _orders(*, portfolio_id: int, since: datetime):
    """The parents open now or sent since ``since`` (denied ones never count)."""
    from orders_app.models import Order
    from orders_app.states import OPEN_STATUSES

    return (
        Order.objects.filter(portfolio_id=portfolio_id, parent__isnull=True)
        .filter(Q(status__in=OPEN_STATUSES) | Q(created_at__gte=since))
        .exclude(status=OrderStatus.DENIED.value)
        .values_list("instrument_id", "instrument__symbol", "instrument__sector", "side", "quantity", "filled_qty",
                     "limit_price", "arrival_px", "status", "created_at", "client_order_id", "proposal_id", "reserved_cash")
    )


_BOOK_ROW = CompiledQuery(_book_row, portfolio_id=int, own_scope=str, market_date=date)
_BOOK_ROW_LOCKED = CompiledQuery(functools.partial(_book_row, lock=True), portfolio_id=int, own_scope=str, market_date=date)
_POSITIONS = CompiledQuery(_positions, portfolio_id=int)
_ORDERS = CompiledQuery(_orders, portfolio_id=int, since=datetime)


def slice_snapshot_load(
    *,
    portfolio_id: int,
    symbol: str,
    parent_client_order_id: str,
    now: datetime,
    market_now: datetime,
    lookback_s: float = 60.0,
    need_times: bool = True,
) -> Loaded:
    """What a child slice's check reads (``PreTradeRiskEngine.check(slice_only=True)``), in one or two queries:
    both kill switches, the portfolio's position in ``symbol`` with the other open parents' rest in it (its own
    parent, which holds the slice's exposure, left out), the last price, and - for the rate limit - the times
    of the parents sent in the window. Exposure limits are not the slice's to answer, so the rest of the book
    is not loaded."""
    from django.db.models import F, Sum

    from orders_app.models import Order
    from orders_app.states import OPEN_STATUSES

    rows = _SLICE_ROW.dicts(portfolio_id=portfolio_id, own_scope=portfolio_scope(portfolio_id), symbol=symbol)
    if not rows:
        from portfolio_app.models import Portfolio

        raise Portfolio.DoesNotExist(f"no portfolio {portfolio_id}")
    p = rows[0]
    p["buying"] = p["selling"] = Decimal(0)
    if TradingState.REDUCING.value in (p["desk_state"], p["own_state"]):
        # Reduce-only: whether the slice reduces depends on the other open parents in the symbol too.
        rest = (Order.objects.filter(portfolio_id=portfolio_id, parent__isnull=True, status__in=OPEN_STATUSES,
                                     instrument__symbol=symbol).exclude(client_order_id=parent_client_order_id)
                .values("side").annotate(s=Sum(F("quantity") - F("filled_qty"))))
        for row in rest:
            p["buying" if row["side"] == Side.BUY.value else "selling"] = row["s"] or Decimal(0)
    times: list[datetime] = []
    if need_times:
        since = now - timedelta(seconds=lookback_s)
        times = sorted(t for (t,) in _SLICE_TIMES.tuples(portfolio_id=portfolio_id, since=since,
                                                         parent_client_order_id=parent_client_order_id))
    found, _ = marks_found({symbol: 0}, market_now)
    mark = found.get(symbol)
    positions = {}
    if p["held"]:
        positions[symbol] = PositionSnapshot(symbol=symbol, quantity=p["held"], avg_cost=mark or Decimal(0), mark=mark, sector="")
    open_orders = tuple(
        OrderIntent(portfolio_id=portfolio_id, symbol=symbol, side=side, quantity=q, reference_price=mark)
        for side, q in ((Side.BUY, p["buying"]), (Side.SELL, p["selling"])) if q and q > 0
    )
    snapshot = PortfolioSnapshot(
        portfolio_id=portfolio_id, cash=Decimal(p["cash"]), positions=positions, open_orders=open_orders,
        recent_order_times=tuple(times), trading_state=TradingState(p["own_state"] or "ACTIVE"), long_short=p["long_short"],
        name=p["name"], as_of=now,
    )
    context = RiskContext(marks={symbol: float(mark)} if mark is not None else {}, now=now, wall_clock=True,
                          desk_state=TradingState(p["desk_state"] or "ACTIVE"))
    return Loaded(snapshot=snapshot, context=context, instrument_ids={}, limits_token=p["limits_token"] or "",
                  lookback_s=lookback_s, with_times=need_times)


# slice_snapshot_load's reads, compiled once per process (``desk.compiled``), as snapshot_load's.

def _slice_row(*, portfolio_id: int, own_scope: str, symbol: str):
    """The portfolio row with both kill switches, its position in ``symbol`` and the limits' version."""
    from django.db.models import DecimalField, OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce

    from portfolio_app.models import Portfolio, Position
    from risk_app.models import RiskLimitsVersion, TradingStateRecord

    zero = Value(Decimal(0), output_field=DecimalField(max_digits=20, decimal_places=4))
    state_of = TradingStateRecord.objects.values("state")
    return (
        Portfolio.objects.filter(pk=portfolio_id)
        .annotate(
            desk_state=Subquery(state_of.filter(scope=DESK_SCOPE)[:1]),
            own_state=Subquery(state_of.filter(scope=own_scope)[:1]),
            held=Coalesce(Subquery(Position.objects.filter(portfolio_id=OuterRef("pk"), instrument__symbol=symbol)
                                   .values("quantity")[:1]), zero),
            limits_token=Subquery(RiskLimitsVersion.objects.filter(pk=1).values("token")[:1]),
        )
        .values("cash", "name", "long_short", "desk_state", "own_state", "held", "limits_token")
    )


def _slice_times(*, portfolio_id: int, since: datetime, parent_client_order_id: str):
    """When the portfolio's other parents were sent since ``since`` (denied ones never count)."""
    from orders_app.models import Order

    return (Order.objects.filter(portfolio_id=portfolio_id, parent__isnull=True, created_at__gte=since)
            .exclude(status=OrderStatus.DENIED.value).exclude(client_order_id=parent_client_order_id)
            .values_list("created_at"))


_SLICE_ROW = CompiledQuery(_slice_row, portfolio_id=int, own_scope=str, symbol=str)
_SLICE_TIMES = CompiledQuery(_slice_times, portfolio_id=int, since=datetime, parent_client_order_id=str)
