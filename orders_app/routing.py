"""Smart order routing: split one child order across venues at least expected cost (pure core).

The cost model (DESIGN.md, "Fills (paper exchange)"), per share, in bps of the
consolidated mid ``ref`` (best bid and best ask over the venues that are up):

    cost_v(q) = side · (touch_v − ref) + taker_fee_v · touch_v + touch_v · k_v · σ · sqrt(q / ADV)
              =            a_v                                  +        b_v · sqrt(q)

so venue v's total is ``q · (a_v + b_v·sqrt(q))``, convex in q, and its marginal
cost is ``a_v + 1.5·b_v·sqrt(q)``. The optimum equalises marginal costs across
the venues used ("water-filling"): find the level λ at which
``Σ clip(((λ − a_v) / 1.5 b_v)², lo_v, hi_v) = Q``. Between the λ where a venue
starts or stops taking quantity the sum is a quadratic in λ, so λ is found
exactly by walking those breakpoints (no iteration). The continuous answer is
floored to lots and the few lots left over go one by one to the venue where
the next lot costs least, which is optimal for a separable convex problem.

Displayed size is a hard cap while the venues up display enough in total; when
they do not, every displayed size is taken and the excess is water-filled on top
(the paper exchange works it on later ticks). Venues that are down are skipped.
``RouteDecision.alternatives`` holds, per venue up, the cost in bps of sending the
whole quantity there alone (its displayed size ignored): the single-venue plans
the split beat. It is never cheaper than the split when that venue displays the
whole quantity; when it does not, that plan was not on offer at this tick.
The fee-on-impact cross term (fee_bps x impact, ~1e-7 of notional) is ignored.

Plain floats inside and a fixed number of passes over the venues: one decision
over five venues is a few tens of microseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN as _HALF_EVEN
from decimal import Decimal

from desk.interfaces import ConfigError, RouteAllocation, RouteDecision, Router, Side, VenueQuote
from desk.money import PRICE_QUANTUM as _PX
from desk.money import to_decimal

_INF = math.inf


class NoVenueAvailable(RuntimeError):
    """Every venue is down: the order cannot be routed (the service rejects it with this reason)."""


def water_fill(a: Sequence[float], c: Sequence[float], lo: Sequence[float], hi: Sequence[float], total: float) -> list[float]:
    """Quantities q_v in [lo_v, hi_v] summing to ``total`` with equal marginal cost ``a_v + c_v·sqrt(q_v)``.

    ``c_v == 0`` is a flat venue (no impact): it takes all it can at level ``a_v``.
    Requires ``sum(lo) <= total <= sum(hi)``.
    """
    n = len(a)
    events: list[tuple[float, int, int]] = []
    k_const = 0.0
    for i in range(n):
        k_const += lo[i]
        ci = c[i]
        if ci > 0.0:
            events.append((a[i] + ci * math.sqrt(lo[i]), 0, i))  # starts taking more than lo
            if hi[i] != _INF:
                events.append((a[i] + ci * math.sqrt(hi[i]), 1, i))  # saturated at hi
        else:
            events.append((a[i], 2, i))  # jumps from lo to hi at its flat cost
    events.sort()
    qa = qb = qc = 0.0  # sum over active venues of (λ − a)²/c² = qa·λ² − 2·qb·λ + qc
    active = [False] * n
    flat_fill: dict[int, float] = {}
    level = None
    for lam, kind, i in events:
        f = k_const + qa * lam * lam - 2.0 * qb * lam + qc
        if f >= total:
            if qa <= 0.0:  # the sum reached the total exactly at a saturation: any level here will do
                level = lam
            break
        if kind == 2:
            room = hi[i] - lo[i]
            if f + room >= total:
                flat_fill[i] = lo[i] + (total - f)
                level = lam
                break
            flat_fill[i] = hi[i]
            k_const += room
        elif kind == 0:
            w = 1.0 / (c[i] * c[i])
            qa += w
            qb += a[i] * w
            qc += a[i] * a[i] * w
            k_const -= lo[i]
            active[i] = True
        else:
            w = 1.0 / (c[i] * c[i])
            qa -= w
            qb -= a[i] * w
            qc -= a[i] * a[i] * w
            k_const += hi[i]
            active[i] = False
    if level is None:
        if qa <= 0.0:
            # Every venue saturated. When the total *is* the capacity, float noise can leave the
            # sum a hair short of it at the last breakpoint: that breakpoint is the level.
            if events and total <= k_const * (1.0 + 1e-12):
                level = events[-1][0]
            else:
                raise ValueError("total exceeds the venues' capacity")
        else:
            disc = qb * qb - qa * (qc + k_const - total)
            level = (qb + math.sqrt(disc if disc > 0.0 else 0.0)) / qa
    out = []
    for i in range(n):
        if i in flat_fill:
            q = flat_fill[i]
        elif c[i] > 0.0:
            d = level - a[i]
            q = (d / c[i]) ** 2 if d > 0.0 else 0.0
            q = lo[i] if q < lo[i] else (hi[i] if q > hi[i] else q)
        else:
            q = hi[i] if level > a[i] else lo[i]
        out.append(q)
    return out


class SmartOrderRouter(Router):
    """Routes a quantity across venue quotes at least expected all-in cost.

    ``daily_vol`` (σ of daily returns) and ``adv`` (average daily volume, shares)
    feed the square-root impact term; pass them per call when the router is shared
    across instruments. ``lot_size``: allocations are whole lots.
    """

    def __init__(self, *, daily_vol: float = 0.02, adv: float = 1_000_000.0, lot_size: int | Decimal = 1):
        self.daily_vol = float(daily_vol)
        self.adv = float(adv)
        self.lot_size = to_decimal(lot_size)
        if self.lot_size <= 0:
            raise ConfigError("lot_size", "must be positive")

    def route(
        self,
        side: Side,
        quantity: Decimal,
        quotes: Sequence[VenueQuote],
        *,
        daily_vol: float | None = None,
        adv: float | None = None,
    ) -> RouteDecision:
        sigma = self.daily_vol if daily_vol is None else float(daily_vol)
        adv_f = self.adv if adv is None else float(adv)
        if not adv_f > 0:
            raise ConfigError("adv", "must be positive (square-root impact divides by it)")
        lot = self.lot_size
        lot_f = float(lot)
        lots_total, rem = divmod(quantity, lot)
        if quantity <= 0 or rem != 0:
            raise ConfigError("quantity", f"{quantity} is not a positive whole number of lots of {lot}")
        q_total = float(quantity)

        up = [v for v in quotes if v.up]
        if not up:
            raise NoVenueAvailable("no venue is up")
        if len(up) == 1 and lot_f == 1.0:
            return _one_venue(up[0], side, quantity, q_total, sigma / math.sqrt(adv_f))
        # One pass of Decimal -> float; everything after is float arithmetic.
        bids = [float(v.bid) for v in up]
        asks = [float(v.ask) for v in up]
        ref = 0.5 * (max(bids) + min(asks))
        buy = side is Side.BUY
        s = 1.0 if buy else -1.0
        touches = asks if buy else bids
        impact_unit = sigma / math.sqrt(adv_f)  # impact fraction per sqrt(share) before k
        to_bps = 1e4 / ref
        floor = math.floor
        a = [(s * (t - ref) + v.taker_fee_bps * 1e-4 * t) * to_bps for v, t in zip(up, touches)]
        b = [t * v.impact_k * impact_unit * to_bps for v, t in zip(up, touches)]
        c = [1.5 * bi for bi in b]
        # Displayed size floored to whole lots: a part lot cannot be taken.
        if lot_f == 1.0:
            caps = [float(floor(float(v.displayed_qty))) for v in up]
        else:
            caps = [floor(float(v.displayed_qty) / lot_f) * lot_f for v in up]

        n = len(up)
        if sum(caps) >= q_total:
            lo, hi = [0.0] * n, caps
        else:
            lo, hi = caps, [_INF] * n
        alloc = _round_to_lots(water_fill(a, c, lo, hi, q_total), a, b, lo, hi, int(lots_total), lot_f)

        allocations = []
        total_cost = 0.0
        unit_lot = lot_f == 1.0
        sqrt = math.sqrt
        for i, q in enumerate(alloc):
            if q <= 0.0:
                continue
            v = up[i]
            sq = sqrt(q)
            cost_bps = a[i] + b[i] * sq
            total_cost += q * cost_bps
            px = touches[i] * (1.0 + s * v.impact_k * impact_unit * sq)
            allocations.append(
                RouteAllocation(
                    v.venue,
                    Decimal(round(q)) if unit_lot else lot * round(q / lot_f),
                    Decimal(repr(px)).quantize(_PX, _HALF_EVEN),
                    cost_bps,
                )
            )
        sq_total = sqrt(q_total)
        alternatives = {v.venue: a[i] + b[i] * sq_total for i, v in enumerate(up)}
        return RouteDecision(tuple(allocations), total_cost / q_total, alternatives)


def _one_venue(v: VenueQuote, side: Side, quantity: Decimal, q_total: float, impact_unit: float) -> RouteDecision:
    """One venue up and unit lots: the whole quantity goes there (what water-filling gives, without it).

    The same float expressions as ``route`` so the figures are identical to the bit.
    """
    bid, ask = float(v.bid), float(v.ask)
    ref = 0.5 * (bid + ask)
    buy = side is Side.BUY
    s = 1.0 if buy else -1.0
    t = ask if buy else bid
    to_bps = 1e4 / ref
    a = (s * (t - ref) + v.taker_fee_bps * 1e-4 * t) * to_bps
    b = t * v.impact_k * impact_unit * to_bps
    sq = math.sqrt(q_total)
    cost_bps = a + b * sq
    px = t * (1.0 + s * v.impact_k * impact_unit * sq)
    alloc = RouteAllocation(v.venue, Decimal(round(q_total)), Decimal(repr(px)).quantize(_PX, _HALF_EVEN), cost_bps)
    return RouteDecision((alloc,), q_total * cost_bps / q_total, {v.venue: cost_bps})


def _round_to_lots(
    cont: list[float], a: list[float], b: list[float], lo: list[float], hi: list[float], lots_total: int, lot: float
) -> list[float]:
    """Floor the continuous split to lots, then add (or remove) single lots where they cost least (most).

    At most one lot per venue is missing after flooring, so the greedy loop runs a
    handful of times; only the venue that just moved needs its next-lot cost redone.
    """
    n = len(cont)
    sqrt, floor = math.sqrt, math.floor
    q = []
    for i in range(n):
        x = floor(cont[i] / lot + 1e-9) * lot
        x = lo[i] if x < lo[i] else x
        q.append(hi[i] if x > hi[i] else x)
    short = lots_total - round(sum(q) / lot)
    if short == 0:
        return _exchange(q, a, b, lo, hi, lot)

    if short > 0:
        inc = [
            (y * (a[i] + b[i] * sqrt(y)) - x * (a[i] + b[i] * sqrt(x))) if (y := x + lot) <= hi[i] else _INF
            for i, x in enumerate(q)
        ]
        for _ in range(short):
            best = inc.index(min(inc))
            x = q[best] = q[best] + lot
            y = x + lot
            inc[best] = y * (a[best] + b[best] * sqrt(y)) - x * (a[best] + b[best] * sqrt(x)) if y <= hi[best] else _INF
    else:  # float error overshot: take back the dearest lots
        dec = [
            (x * (a[i] + b[i] * sqrt(x)) - y * (a[i] + b[i] * sqrt(y))) if (y := x - lot) >= lo[i] else -_INF
            for i, x in enumerate(q)
        ]
        for _ in range(-short):
            best = dec.index(max(dec))
            x = q[best] = q[best] - lot
            y = x - lot
            dec[best] = x * (a[best] + b[best] * sqrt(x)) - y * (a[best] + b[best] * sqrt(y)) if y >= lo[best] else -_INF
    return _exchange(q, a, b, lo, hi, lot)


def _exchange(q: list[float], a: list[float], b: list[float], lo: list[float], hi: list[float], lot: float) -> list[float]:
    """Move single lots between venues while a move lowers the total cost.

    The cost ``q·(a + b·sqrt(q))`` is convex and separable, so an allocation that no
    single-lot move improves is the integer optimum; flooring the continuous split can
    start a venue above its integer optimum, which adding lots alone never corrects.
    Only the two venues a move touches are re-priced.
    """
    sqrt = math.sqrt
    n = len(q)

    def save(i: int) -> float:  # what taking one lot off venue i saves
        x = q[i]
        y = x - lot
        return x * (a[i] + b[i] * sqrt(x)) - y * (a[i] + b[i] * sqrt(y)) if y >= lo[i] else -_INF

    def add_cost(i: int) -> float:  # what one more lot on venue i costs
        x = q[i]
        y = x + lot
        return y * (a[i] + b[i] * sqrt(y)) - x * (a[i] + b[i] * sqrt(x)) if y <= hi[i] else _INF

    sv = [save(i) for i in range(n)]
    ex = [add_cost(i) for i in range(n)]
    for _ in range(4 * n + int(sum(q) / lot)):
        frm = sv.index(max(sv))
        best, to = _INF, -1
        for j in range(n):
            if j != frm and ex[j] < best:
                best, to = ex[j], j
        if to < 0 or not sv[frm] - best > 1e-9 * (1.0 + abs(sv[frm])):
            break
        q[frm] -= lot
        q[to] += lot
        sv[frm], ex[frm], sv[to], ex[to] = save(frm), add_cost(frm), save(to), add_cost(to)
    return q