"""Why a backtest and a paper (or live) run of the same period disagree, order by order.

Method (USD; positive = the paper run did worse than the backtest):

1. Each run's fills are grouped into orders: (date, symbol, side) with total
   quantity, average fill price, total fees, the decision (reference) price and
   the target weight the order aimed at.
2. Orders are matched on (symbol, side) with the nearest date within
   ``window_days`` calendar days; an order left without a partner is
   *unmatched*.
3. For a matched pair with side sign s (+1 buy, -1 sell), backtest b, paper p,
   and E the last close of the compared period for that symbol:

   - ``timing``  = s * q_p * (ref_p - ref_b): the paper decided at another price
     because it traded at another moment (intraday mark vs close, another day);
   - ``fill``    = s * (q_p * (px_p - ref_p) - q_b * (px_b - ref_b)): each run's
     fill against its own decision price (spread, impact, modelled slippage);
   - ``fees``    = fee_p - fee_b;
   - quantity difference dq = q_p - q_b, whose effect is what those shares did
     afterwards, -s * dq * (E - ref_b), split into
     ``signal`` (the part the target weights explain:
     dq_signal = (w_p - w_b) * notional_b / (w_b * ref_b), when both weights are
     known and w_b != 0) and ``sizing`` (the rest: NAV differences, whole-share
     rounding, cash funding).

   An unmatched order is all ``signal`` when its run had no order in that symbol
   within the window (the other run never wanted it), valued the same way:
   -s * q * (E - ref) for a paper-only order, +s * q * (E - ref) for a backtest-only one.

The components of a pair add up to its total; they are an accounting of the
difference, not a claim about causes beyond it. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from desk.money import cash, price

ZERO = Decimal(0)
COMPONENTS = ("signal", "sizing", "fill", "fees", "timing")


@dataclass(frozen=True)
class OrderSummary:
    date: date
    symbol: str
    side: str
    qty: Decimal
    avg_px: Decimal
    fees: Decimal
    reference_price: Decimal
    weight: float | None

    @property
    def sign(self) -> int:
        return 1 if self.side == "BUY" else -1


def _get(t: Any, name: str) -> Any:
    return t.get(name) if isinstance(t, Mapping) else getattr(t, name, None)


def orders_from_trades(trades: Iterable[Any]) -> list[OrderSummary]:
    """Fills (``TradeRecord``s, ``ScenarioTrade`` rows or dicts) grouped per (date, symbol, side)."""
    groups: dict[tuple, list] = {}
    for t in trades:
        d = _get(t, "date")
        d = date.fromisoformat(d) if isinstance(d, str) else d
        groups.setdefault((d, _get(t, "symbol"), _get(t, "side")), []).append(t)
    out = []
    for (d, sym, side), fills in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        qty = sum((Decimal(str(_get(f, "qty"))) for f in fills), ZERO)
        notional = sum((Decimal(str(_get(f, "qty"))) * Decimal(str(_get(f, "price"))) for f in fills), ZERO)
        fees = sum((Decimal(str(_get(f, "commission") or 0)) for f in fills), ZERO)
        avg = price(notional / qty) if qty else ZERO
        ref = _get(fills[0], "reference_price")
        weight = _get(fills[0], "weight_after")
        out.append(OrderSummary(d, sym, side, qty, avg, fees, Decimal(str(ref)) if ref is not None else avg,
                                float(weight) if weight is not None else None))
    return out


def _row(b: OrderSummary | None, p: OrderSummary | None, end_mark: Decimal | None) -> dict[str, Any]:
    comp = dict.fromkeys(COMPONENTS, ZERO)
    o = b or p
    s = o.sign
    e = end_mark if end_mark is not None else o.reference_price
    if b and p:
        comp["timing"] = s * p.qty * (p.reference_price - b.reference_price)
        comp["fill"] = s * (p.qty * (p.avg_px - p.reference_price) - b.qty * (b.avg_px - b.reference_price))
        comp["fees"] = p.fees - b.fees
        dq = p.qty - b.qty
        dq_signal = ZERO
        if p.weight is not None and b.weight and b.reference_price:
            dq_signal = (Decimal(repr(p.weight)) - Decimal(repr(b.weight))) * b.qty / Decimal(repr(b.weight))
            dq_signal = max(min(dq_signal, max(dq, ZERO)), min(dq, ZERO))  # never more than the gap itself
        move = -s * (e - b.reference_price)
        comp["signal"] = dq_signal * move
        comp["sizing"] = (dq - dq_signal) * move
    elif p:
        comp["signal"] = -s * p.qty * (e - p.reference_price) + p.fees
    else:
        comp["signal"] = s * b.qty * (e - b.reference_price) - b.fees
    comp = {k: cash(v) + ZERO for k, v in comp.items()}  # + 0 turns -0.00 into 0.00
    return {
        "date": (p or b).date.isoformat(),
        "backtest_date": b.date.isoformat() if b else None,
        "paper_date": p.date.isoformat() if p else None,
        "symbol": o.symbol,
        "side": o.side,
        "backtest_qty": str(b.qty) if b else "0",
        "paper_qty": str(p.qty) if p else "0",
        "backtest_px": str(b.avg_px) if b else None,
        "paper_px": str(p.avg_px) if p else None,
        **{k: str(v) for k, v in comp.items()},
        "total": str(sum(comp.values(), ZERO)),
    }


def attribute_divergence(
    backtest_trades: Iterable[Any],
    paper_trades: Iterable[Any],
    *,
    end_marks: Mapping[str, Decimal] | None = None,
    window_days: int = 5,
) -> dict[str, Any]:
    """Per-order rows (see the module docstring) and their totals per component."""
    end_marks = end_marks or {}
    bt = orders_from_trades(backtest_trades)
    pp = orders_from_trades(paper_trades)
    free = list(pp)
    rows = []
    for b in bt:
        best, gap = None, None
        for p in free:
            if p.symbol == b.symbol and p.side == b.side:
                g = abs((p.date - b.date).days)
                if g <= window_days and (gap is None or g < gap):
                    best, gap = p, g
        if best is not None:
            free.remove(best)
        rows.append(_row(b, best, end_marks.get(b.symbol)))
    rows += [_row(None, p, end_marks.get(p.symbol)) for p in free]
    rows.sort(key=lambda r: (r["date"], r["symbol"], r["side"]))
    totals = {k: str(sum((Decimal(r[k]) for r in rows), ZERO)) for k in (*COMPONENTS, "total")}
    return {"method": __doc__.split("Method", 1)[1].strip(), "rows": rows, "totals": totals,
            "matched": sum(1 for r in rows if r["backtest_date"] and r["paper_date"]),
            "unmatched": sum(1 for r in rows if not (r["backtest_date"] and r["paper_date"]))}
