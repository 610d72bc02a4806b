"""From current holdings and target weights to whole-lot trades a portfolio can pay for.

The rules (DESIGN.md, "Money and quantities"):

- every trade is a whole number of lots, rounded towards zero, so a trade never
  overshoots its target: each holding ends within one lot of ``weight * NAV / price``;
- sells come before buys (their proceeds fund the buys);
- cash after every trade and its estimated cost is never negative: when the buys
  cost more than there is, they are scaled down together, then trimmed a lot at a
  time from the largest, so the shortfall is shared rather than landing on whichever
  symbol sorts last;
- a long-only portfolio never goes short: a negative target is read as zero and a
  sell never exceeds the holding;
- given a ``ReserveRule`` (``portfolio_app.account``), a long-only portfolio's buys
  also fit what the pre-trade check will reserve for them at approval (the collar
  price and the dearest fee, less what its sells bring in at the least, and less
  what open orders already hold), so approving the proposal is not refused for
  buying power.

Cash moves by each trade's notional to the cent (half-even, as a fill books it) and
its estimated cost, ``notional * bps / 10_000`` to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_FLOOR, Decimal

from desk.errors import Invalid
from desk import money
from desk.interfaces import PortfolioSnapshot, ProposedTrade, Side, TargetWeights, TradeBuilder
from portfolio_app.account import ReserveRule

ZERO = Decimal(0)


def _dec(value: object) -> Decimal:
    # numpy 2's float64 is a float whose repr is "np.float64(1.5)", which money.to_decimal
    # (repr-based) cannot parse; a plain float's repr is the shortest exact text.
    return money.to_decimal(float(value) if isinstance(value, float) else value)


def estimate_costs(trades: Iterable[ProposedTrade], bps: object) -> Decimal:
    """Estimated trading costs: each trade's notional times ``bps``, to the cent."""
    rate = money.bps(bps)
    return sum((money.cash(t.notional * rate) for t in trades), ZERO)


def cash_after(cash: Decimal, trades: Iterable[ProposedTrade], bps: object = 0) -> Decimal:
    """Cash once every trade has filled at its price and paid its estimated cost."""
    trades = list(trades)
    flow = sum((-t.side.sign * money.cash(t.notional) for t in trades), ZERO)
    return cash + flow - estimate_costs(trades, bps)


def turnover(trades: Iterable[ProposedTrade], nav: Decimal) -> float:
    """Traded notional as a fraction of NAV (one-way: buys plus sells)."""
    return float(sum((t.notional for t in trades), ZERO) / nav) if nav > 0 else 0.0


class TradeError(Invalid, ValueError):
    """Trades cannot be built (a target without a price, a portfolio with no value)."""


class LotTradeBuilder(TradeBuilder):
    """``interfaces.TradeBuilder``: whole lots, sells first, cash never negative.

    ``cost_bps`` is the estimated cost charged against cash; ``prices`` (optional)
    overrides the snapshot's marks and must cover every target not already held.
    ``reserve`` / ``reserved``: for a long-only portfolio, the buying-power rule the
    orders will be checked by, and what open orders already hold of the cash.
    """

    def __init__(self, cost_bps: object = 0, *, reserve: ReserveRule | None = None, reserved: object = 0):
        self.cost_bps = money.to_decimal(cost_bps)
        self.reserve = reserve
        self.reserved = money.to_decimal(reserved)

    def trades(
        self,
        target: TargetWeights,
        *,
        snapshot: PortfolioSnapshot,
        lot_sizes: Mapping[str, Decimal],
        prices: Mapping[str, Decimal] | None = None,
    ) -> list[ProposedTrade]:
        px = {s: p.mark for s, p in snapshot.positions.items()}
        px.update({s: _dec(v) for s, v in (prices or {}).items()})
        held = {s: p.quantity for s, p in snapshot.positions.items()}
        nav = snapshot.cash + sum((held[s] * px[s] for s in held), ZERO)
        if nav <= 0:
            raise TradeError(f"The portfolio's value is {money.cash(nav)}, so there is nothing to allocate.")
        symbols = sorted(set(held) | {s for s, w in target.weights.items() if w})
        missing = [s for s in symbols if s not in px or px[s] <= 0]
        if missing:
            raise TradeError(f"No usable price for {', '.join(missing)}; cannot size its trade.")

        deltas: dict[str, Decimal] = {}
        for s in symbols:
            w = float(target.weights.get(s, 0.0))
            if not snapshot.long_short:
                w = max(w, 0.0)
            goal = _dec(w) * nav / px[s]
            delta = money.floor_to_lot(goal - held.get(s, ZERO), lot_sizes.get(s, 1))
            if not snapshot.long_short:
                delta = max(delta, -max(held.get(s, ZERO), ZERO))  # never sell into a short
            if delta:
                deltas[s] = delta
        if self.reserve is None or snapshot.long_short:
            self._fund_buys(deltas, px, lot_sizes, snapshot.cash)
        else:
            self._fund_buys(deltas, px, lot_sizes, snapshot.cash - self.reserved, self.reserve)

        def weight(s: str, qty: Decimal) -> float:
            return float(qty * px[s] / nav)

        trades = [
            ProposedTrade(
                symbol=s,
                side=Side.BUY if q > 0 else Side.SELL,
                quantity=abs(q),
                price=px[s],
                weight_before=weight(s, held.get(s, ZERO)),
                weight_after=weight(s, held.get(s, ZERO) + q),
            )
            for s, q in deltas.items()
            if q
        ]
        # Sells first (their proceeds pay for the buys), then by symbol for a stable order.
        return sorted(trades, key=lambda t: (t.side is Side.BUY, t.symbol))

    def _fund_buys(
        self, deltas: dict[str, Decimal], px: Mapping[str, Decimal], lots: Mapping[str, Decimal], cash: Decimal,
        rule: ReserveRule | None = None,
    ) -> None:
        """Shrink the buys in ``deltas`` (in place) until cash after everything is >= 0.

        Cash after the trades is ``cash_after`` kept incrementally: each trade's cash effect
        (notional to the cent, then its estimated cost to the cent) is stored and only the
        trade that moved is redone. Cents add exactly, so the total is ``cash_after``'s.
        With a ``rule``, a buy takes at least what it will reserve and a sell brings in at
        most what the check counts it for.
        """
        rate = money.bps(self.cost_bps)
        to_cash = money.cash

        def effect(s: str, q: Decimal) -> Decimal:
            if not q:
                return ZERO
            n = to_cash(abs(q) * px[s])  # notional as a fill books it
            booked = (-n if q > 0 else n) - to_cash(abs(q) * px[s] * rate)
            if rule is None:
                return booked
            held = -rule.buy(s, q, px[s]) if q > 0 else rule.sell(s, -q, px[s])
            return min(booked, held)

        eff = {s: effect(s, q) for s, q in deltas.items()}
        remaining = cash + sum(eff.values(), ZERO)

        def move(s: str, q: Decimal) -> None:
            nonlocal remaining
            new = effect(s, q)
            remaining += new - eff.get(s, ZERO)
            eff[s] = new
            deltas[s] = q

        if remaining >= 0:
            return
        wanted = dict(deltas)
        buys = [s for s, q in deltas.items() if q > 0]
        spend = sum((deltas[s] * px[s] for s in buys), ZERO)
        short = -remaining
        if spend > 0:
            # Scale every buy by the same factor first (floored to lots), then trim one lot
            # at a time from the largest buy: at most a handful of steps, since the
            # scaling leaves less than one lot per buy of slack.
            if rule is None:
                factor = max(ZERO, (spend - short * (1 + rate)) / spend)
            else:  # what a unit of notional takes (1 + collar, band and fee) is known: scale to fit it
                takes = -sum((eff[s] for s in buys), ZERO) / spend
                factor = max(ZERO, 1 - short / (takes * spend))
            for s in buys:
                lot = money.to_decimal(lots.get(s, 1))
                move(s, (deltas[s] * factor / lot).to_integral_value(rounding=ROUND_FLOOR) * lot)
        while remaining < 0:
            live = [s for s, q in deltas.items() if q > 0]
            if not live:
                break  # only sells left; they can only add cash
            biggest = max(live, key=lambda s: (deltas[s] * px[s], s))
            move(biggest, deltas[biggest] - money.to_decimal(lots.get(biggest, 1)))
        # Flooring each scaled buy can leave enough cash for a few more lots: hand them
        # back, furthest-from-target first, while cash stays non-negative.
        for s in sorted(buys, key=lambda s: (-(wanted[s] - deltas[s]) * px[s], s)):
            lot = money.to_decimal(lots.get(s, 1))
            while deltas[s] + lot <= wanted[s]:
                move(s, deltas[s] + lot)
                if remaining < 0:
                    move(s, deltas[s] - lot)
                    break
        for s in [s for s, q in deltas.items() if not q]:
            del deltas[s]

    @staticmethod
    def _as_trades(deltas: Mapping[str, Decimal], px: Mapping[str, Decimal]) -> list[ProposedTrade]:
        return [
            ProposedTrade(s, Side.BUY if q > 0 else Side.SELL, abs(q), px[s], 0.0, 0.0) for s, q in deltas.items() if q
        ]
