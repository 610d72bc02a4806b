"""The seal a venue client asks for before it sends an order: proof that the pre-trade gate passed
exactly this order (SEC 15c3-5's "direct and exclusive control": no order reaches a venue around
the risk checks).

The gate's slice check (``risk_app.services.pretrade.pre_trade_check_slice``) signs what it
passed - client order id, side, symbol, quantity, limit price - with an HMAC keyed by the
deployment's secret; every venue client (``unchecked`` / ``unchecked_replace`` below) recomputes it
and refuses a new order or a replace whose seal is missing or was issued for another quantity
or price. A seal is not a secret the caller can invent: forging one needs the key.

The key is ``settings.DESK_RISK_STAMP_KEY`` when set, else derived from ``SECRET_KEY``; every
process of one deployment shares it, so a seal made by a web process is good in a worker.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from decimal import Decimal

from desk.interfaces import ExecutionOrder, OrderStatus, TradeResult

from django.conf import settings


@functools.lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return hashlib.sha256(b"desk.riskstamp\x00" + secret.encode()).digest()


def _current_key() -> bytes:
    return _key(getattr(settings, "DESK_RISK_STAMP_KEY", "") or settings.SECRET_KEY)


def _canon(value: Decimal | None) -> str:
    if value is None:
        return "-"
    d = Decimal(value).normalize()
    return format(d, "f")


def message(*, client_order_id: str, side: str, symbol: str, quantity: Decimal, limit_price: Decimal | None) -> bytes:
    """What a seal covers, in one canonical form (``Decimal("100.0")`` and ``100`` are the same quantity)."""
    side = getattr(side, "value", side)
    return "|".join((client_order_id, str(side), symbol, _canon(quantity), _canon(limit_price))).encode()


def sign(*, client_order_id: str, side: str, symbol: str, quantity: Decimal, limit_price: Decimal | None) -> str:
    """The seal for this exact order; only the risk gate calls this."""
    msg = message(client_order_id=client_order_id, side=side, symbol=symbol, quantity=quantity, limit_price=limit_price)
    return hmac.new(_current_key(), msg, hashlib.sha256).hexdigest()


def verify(stamp: str, *, client_order_id: str, side: str, symbol: str, quantity: Decimal, limit_price: Decimal | None) -> bool:
    """Whether ``stamp`` is the gate's seal for exactly this order."""
    if not stamp:
        return False
    good = sign(client_order_id=client_order_id, side=side, symbol=symbol, quantity=quantity, limit_price=limit_price)
    return hmac.compare_digest(stamp, good)


NO_RISK_CHECK = "refused by the venue client: no passed pre-trade risk check for this quantity and price"


def unchecked(order: ExecutionOrder) -> TradeResult | None:
    """REJECTED when ``order`` lacks the gate's seal for exactly its quantity and price, else None."""
    ok = verify(order.risk_stamp, client_order_id=order.client_order_id, side=order.side, symbol=order.symbol,
                          quantity=order.quantity, limit_price=order.limit_price)
    return None if ok else TradeResult(order.client_order_id, OrderStatus.REJECTED, reason=NO_RISK_CHECK)


def unchecked_replace(order: ExecutionOrder, *, quantity: Decimal | None, limit_price: Decimal | None, risk_stamp: str) -> bool:
    """Whether a replace of working ``order`` to ``quantity`` / ``limit_price`` lacks the seal for what it becomes."""
    qty = order.quantity if quantity is None else quantity
    px = order.limit_price if limit_price is None else limit_price
    return not verify(risk_stamp, client_order_id=order.client_order_id, side=order.side, symbol=order.symbol,
                                quantity=qty, limit_price=px)
