"""The pre-trade check every order passes through, and the record of each result.

The engine (``risk_app.checks.PreTradeRiskEngine``) is built from the enabled
limits and the instruments an admin put on the restricted list (``Instrument.restricted``,
one more restricted-instruments limit, ``instrument_restricted_limit``), and cached per
process under the limits' version token (``RiskLimitsVersion``, bumped in the same
transaction as any limit change or restricted flag change):
each check reads the token (one primary-key query) and rebuilds when it
differs, so a committed change applies on every worker at the next check.
The kill switch is read per check as well (``snapshots.trading_states_for``),
never cached.  Desk-scope gross, net, daily-loss and order-rate limits are measured
desk-wide through ``risk_app.desk_book`` (its docstring: locks, releases, refresh).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from django.utils import timezone

from desk import riskstamp
from desk.ports import PreTradeGate
from desk.interfaces import OrderIntent, RiskVerdict
from risk_app import checks as K
from risk_app.checks import Limit, PreTradeRiskEngine
from risk_app.desk_book import desk_context, desk_gate_open
from risk_app.instrumentation import verdicts_count
from market_app.models import Instrument
from risk_app.models import RiskCheck, RiskLimit, RiskLimitsVersion
from risk_app.snapshots import slice_snapshot_load, snapshot_load

from .common import breach_dict, finite

_lock = threading.Lock()
_engine: tuple[str, PreTradeRiskEngine] | None = None
DEFAULT_LOOKBACK_S = 60.0


def limit_of(row: RiskLimit) -> Limit:
    return Limit(
        id=row.pk, name=row.name, kind=row.kind, threshold=row.threshold, scope=row.scope,
        scope_key=row.scope_key or None, action=row.action, enabled=row.enabled, params=row.params or {},
    )


INSTRUMENT_RESTRICTED_LIST = "Instrument restricted list"


def instrument_restricted_limit() -> Limit | None:
    """The instruments flagged restricted as a desk-wide blocking restricted-instruments limit (None when there are none)."""
    symbols = sorted(Instrument.objects.filter(restricted=True).values_list("symbol", flat=True))
    if not symbols:
        return None
    return Limit(id=None, name=INSTRUMENT_RESTRICTED_LIST, kind=K.RESTRICTED_INSTRUMENTS, threshold=0, scope=K.SCOPE_DESK,
                 action=K.BLOCK, params={"symbols": symbols})


def limits_token() -> str:
    return RiskLimitsVersion.objects.filter(pk=1).values_list("token", flat=True).first() or ""


def engine_get(token: str | None = None) -> PreTradeRiskEngine:
    """The engine of the committed limits, rebuilt only when their version token changed (``token``: as the
    caller read it, with the book; else read here)."""
    global _engine
    token = limits_token() if token is None else token
    cached = _engine
    if cached is not None and cached[0] == token:
        return cached[1]
    with _lock:
        if _engine is not None and _engine[0] == token:
            return _engine[1]
        limits = [limit_of(r) for r in RiskLimit.objects.filter(enabled=True)]
        restricted = instrument_restricted_limit()
        engine = PreTradeRiskEngine(limits + [restricted] if restricted else limits)
        engine.lookback_s = max(
            [DEFAULT_LOOKBACK_S]
            + [c.thr for c in engine.limits if c.kind == K.DUPLICATE_WINDOW_S]
            + [c.window_s for c in engine.limits if c.kind == K.MAX_ORDER_RATE]
        )
        engine.needs_returns = any(c.kind == K.MAX_VAR_95 for c in engine.limits)
        _engine = (token, engine)
        return engine


def engine_reset() -> None:
    """Forget this process's engine (tests that rewrite limits outside the services)."""
    global _engine
    _engine = None


def _market_now():
    from market_app.clock import get_clock

    return get_clock().market_now()


def pre_trade_check(
    *,
    portfolio_id: int,
    intents: Sequence[OrderIntent],
    wall_clock: bool = True,
    record: bool = True,
    alerts: bool = True,
    order_ids: Sequence[int | None] | None = None,
    new_orders: bool = False,
    lock_portfolio: bool = False,
) -> list[RiskVerdict]:
    """One verdict per intent, in order. The caller must hold the portfolio row lock.

    Several intents are checked as one proposal (``check_proposal``): the
    portfolio-level measures are valued after all of them.  ``record``: store a
    ``RiskCheck`` for every intent whose ``client_order_id`` names a stored order
    (the caller need not call ``risk_check_record``).  ``alerts``: warn-level
    breaches raise an alert (they pass, but someone must see them).
    ``wall_clock=False`` skips the rate and duplicate limits (simulated time).
    ``order_ids``: the stored order of each intent, when the caller knows them (saves the
    lookup by ``client_order_id`` when recording).
    ``new_orders``: the intents are orders not stored yet, that the caller stores after a pass (and
    records with ``pre_trade_record``): they are admitted into the desk books as new orders.
    ``lock_portfolio``: the caller has not locked the portfolio row; the first read locks it.

    The book, the kill switches and the limits' version are read in one query (``snapshot_load``);
    the engine is this process's, rebuilt when that version differs.
    """
    intents = list(intents)
    if not intents:
        return []
    now = timezone.now()
    cached = _engine[1] if _engine is not None else None
    lookback, returns = (cached.lookback_s, cached.needs_returns) if cached is not None else (DEFAULT_LOOKBACK_S, False)
    market_now = _market_now()
    loaded = snapshot_load(
        portfolio_id=portfolio_id, intents=intents, now=now, market_now=market_now, wall_clock=wall_clock,
        lookback_s=lookback, need_returns=returns, lock=lock_portfolio,
    )
    engine = engine_get(loaded.limits_token)
    if engine.lookback_s != loaded.lookback_s or engine.needs_returns != loaded.with_returns:
        # The limits changed since this process last checked: read the book again as they need it.
        loaded = snapshot_load(
            portfolio_id=portfolio_id, intents=intents, now=now, market_now=market_now, wall_clock=wall_clock,
            lookback_s=engine.lookback_s, need_returns=engine.needs_returns,
        )
    # Desk-wide limits: their desk rows are locked here (after the portfolio row) when they concern it.
    desk = desk_gate_open(engine=engine, portfolio_id=portfolio_id, loaded=loaded, intents=intents, record=record or new_orders,
                          wall_clock=wall_clock,
                          fresh=frozenset(i.client_order_id for i in intents if i.client_order_id) if new_orders else None)
    ctx = desk.context if desk is not None else loaded.context
    if len(intents) == 1:
        verdicts = [engine.check(intents[0], loaded.snapshot, context=ctx, now=now)]
    else:
        verdicts = list(engine.check_proposal(intents, loaded.snapshot, context=ctx, now=now).verdicts)
    if desk is not None:
        desk.close(intents, verdicts, now=now)
    verdicts_count(verdicts)
    if record:
        _record_for_orders(portfolio_id, intents, verdicts, order_ids)
    if alerts:
        _warn_alerts(portfolio_id, loaded.snapshot.name, verdicts)
    return verdicts


def pre_trade_record(*, portfolio_id: int, intents: Sequence[OrderIntent], verdicts: Sequence[RiskVerdict],
                     order_ids: Sequence[int]) -> None:
    """Store the checks of ``pre_trade_check(new_orders=True)`` once the caller has stored their orders."""
    _record_for_orders(portfolio_id, list(intents), list(verdicts), list(order_ids))


def pre_trade_check_slice(
    *, portfolio_id: int, intent: OrderIntent, parent_client_order_id: str = "", order_id: int | None = None,
    record: bool = True,
) -> RiskVerdict:
    """The check a child slice passes before it goes out (``PreTradeRiskEngine.check`` with
    ``slice_only``), against the book without its parent (so nothing counts twice); passed, the
    verdict carries the seal for exactly this quantity and price (``desk.riskstamp``).

    It reads only what those checks need (``snapshots.slice_snapshot_load``: two queries at most, the limits'
    version token among them).
    A denial is recorded (``RiskCheck``, with the child order); a pass is not - its record is the seal
    the venue client verified and the parent's recorded check. The caller holds the portfolio row lock."""
    now = timezone.now()
    market_now = _market_now()

    def load(lookback_s: float, need_times: bool):
        return slice_snapshot_load(
            portfolio_id=portfolio_id, symbol=intent.symbol,
            parent_client_order_id=parent_client_order_id or intent.client_order_id,
            now=now, market_now=market_now, lookback_s=lookback_s, need_times=need_times,
        )

    def needs(e: PreTradeRiskEngine) -> tuple[float, bool]:
        return e.lookback_s, any(c.kind == K.MAX_ORDER_RATE for c in e.limits)

    # The limits' version is read with the book; the engine of this process is used when it is current.
    cached = _engine[1] if _engine is not None else None
    loaded = load(*(needs(cached) if cached is not None else (DEFAULT_LOOKBACK_S, True)))
    engine = engine_get(loaded.limits_token)
    if needs(engine) != (loaded.lookback_s, loaded.with_times):
        loaded = load(*needs(engine))
    verdict = engine.check(intent, loaded.snapshot, context=loaded.context, now=now, slice_only=True)
    verdicts_count([verdict])
    if verdict.passed:
        return replace(verdict, stamp=riskstamp.sign(
            client_order_id=intent.client_order_id, side=intent.side, symbol=intent.symbol, quantity=intent.quantity,
            limit_price=intent.limit_price,
        ))
    if record and order_id is not None:
        RiskCheck.objects.create(**_row(verdict, portfolio_id, intent, order_id, None))
    return verdict


def pre_trade_check_proposal(*, portfolio_id: int, intents: Sequence[OrderIntent], wall_clock: bool = True):
    """The what-if of a whole proposal (``ProposalVerdict``: verdicts, distinct breaches, post-trade figures).

    Nothing is recorded and no alert is raised; the proposal page shows it before anyone approves.
    """
    engine = engine_get()
    now = timezone.now()
    loaded = snapshot_load(
        portfolio_id=portfolio_id, intents=list(intents), now=now, market_now=_market_now(), wall_clock=wall_clock,
        lookback_s=engine.lookback_s, need_returns=engine.needs_returns,
    )
    ctx = desk_context(engine=engine, portfolio_id=portfolio_id, loaded=loaded)
    return engine.check_proposal(list(intents), loaded.snapshot, context=ctx, now=now)


def risk_check_record(
    *,
    verdict: RiskVerdict,
    portfolio_id: int | None = None,
    intent: OrderIntent | None = None,
    order_id: int | None = None,
    proposal_id: int | None = None,
) -> RiskCheck:
    """Store one check result (NaN values as null) with its order or proposal."""
    return RiskCheck.objects.create(**_row(verdict, portfolio_id, intent, order_id, proposal_id))


def _row(verdict, portfolio_id, intent, order_id, proposal_id) -> dict:
    return {
        "order_id": order_id,
        "proposal_id": proposal_id,
        "portfolio_id": portfolio_id if portfolio_id is not None else (intent.portfolio_id if intent else None),
        "client_order_id": intent.client_order_id if intent else "",
        "symbol": intent.symbol if intent else "",
        "side": intent.side.value if intent else "",
        "quantity": intent.quantity if intent else None,
        "passed": verdict.passed,
        "breaches": [breach_dict(b) for b in verdict.breaches],
        "utilisation": {k: finite(v) for k, v in verdict.utilisation.items()},
    }


def _record_for_orders(portfolio_id: int, intents: list[OrderIntent], verdicts: list[RiskVerdict], order_ids=None) -> None:
    from orders_app.models import Order

    ids = [i.client_order_id for i in intents if i.client_order_id]
    if not ids:
        return
    if order_ids is not None and len(order_ids) == len(intents) and all(order_ids):
        by_client = {i.client_order_id: oid for i, oid in zip(intents, order_ids) if i.client_order_id}
    else:
        by_client = dict(Order.objects.filter(client_order_id__in=ids).values_list("client_order_id", "id"))
    rows = [
        RiskCheck(**_row(v, portfolio_id, i, by_client[i.client_order_id], None))
        for i, v in zip(intents, verdicts)
        if i.client_order_id in by_client
    ]
    RiskCheck.objects.bulk_create(rows)


def _warn_alerts(portfolio_id: int, name: str, verdicts: list[RiskVerdict]) -> None:
    from .alerts import alert_raise

    seen = set()
    for v in verdicts:
        for b in v.breaches:
            if b.action != K.WARN or b.limit_id in seen:
                continue
            seen.add(b.limit_id)
            alert_raise(
                kind="limit_warn", key=f"warn:{portfolio_id}:{b.limit_id}", severity="warning",
                message=f"{name}: {b.reason}", portfolio_id=portfolio_id, limit_id=b.limit_id,
                value=finite(b.value), repeat=True,
            )


class DeskPreTradeGate(PreTradeGate):
    """The ``desk.ports.PreTradeGate`` the orders app submits through (wired in settings.DESK_PORTS)."""

    def check(self, *, portfolio_id, intents, order_ids=None, record=True, alerts=True, wall_clock=True, new_orders=False,
              lock_portfolio=False):
        return pre_trade_check(portfolio_id=portfolio_id, intents=intents, order_ids=order_ids, record=record,
                               alerts=alerts, wall_clock=wall_clock, new_orders=new_orders, lock_portfolio=lock_portfolio)

    def record(self, *, portfolio_id, intents, verdicts, order_ids):
        pre_trade_record(portfolio_id=portfolio_id, intents=intents, verdicts=verdicts, order_ids=order_ids)

    def check_slice(self, *, portfolio_id, intent, parent_client_order_id="", order_id=None):
        return pre_trade_check_slice(portfolio_id=portfolio_id, intent=intent, parent_client_order_id=parent_client_order_id,
                                     order_id=order_id)
