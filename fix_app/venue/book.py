"""The FIX venue's book: the paper exchange's matching behind FIX's order identities.

The matching is ``market_app.matching.paper.PaperExchange`` (shared with the paper venue, not
copied): quotes at mark ± half spread, displayed size, square-root impact, maker/taker fees and
the minimum fee, expiry at the session close. This module adds what FIX needs on top:

- identities: the venue's OrderID, the ClOrdID chain (every ClOrdID a cancel or replace named,
  so a report or a request on any of them finds its order), ExecIDs (a fill's ExecID is the
  matching model's trade id, ``<first ClOrdID>-<n>``; other reports get ``<venue>.<n>``);
- reports: each request (a parsed inbound message) and each tick returns the messages to send,
  as plain ``Report`` data; the server turns them into FIX messages;
- positions: the net filled quantity per account (tag 1 of the orders) and symbol;
- the session roll: orders are worked on the market of the session they were accepted in, so a
  DAY order expires at that session's close (``C``) before the next session's market is loaded.

Pure: the market clock, the market (``MarketLoader``) and the fault rule are injected; no ORM,
no QuickFIX, no I/O. ``dumps``/``load_json`` give the book as plain data (each order's
``PaperExchange.export_order`` state with its chain), for the server to persist.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from desk.interfaces import ExecutionOrder, OrderStatus
from desk.venue import TERMINAL
from market_app.matching.paper import PaperExchange, PaperVenue
from fix_app.venue import reports as rp
from fix_app.venue import tags as t
from fix_app.venue.records import (
    ORD_STATUS, ORD_TYPES, PX, SIDES, TERMINAL_VALUES, TIFS, Report, Request, VenueOrder, decimal_or_none, num, to_ms,
)

KEEP_SESSIONS = 2  # terminal orders are kept (for status requests) for the session they ended in and the next


class MarketLoader(Protocol):
    """What the book reads of the desk: the session of an instant, its market, the venue's parameters."""

    def session(self, t: datetime) -> Any: ...  # .day, .open, .close

    def market(self, session: Any, symbols: Iterable[str]) -> Any: ...  # a PaperExchange MarketSource; LookupError if unknown

    def venue(self) -> PaperVenue: ...


class VenueBook:
    """One venue's orders, worked by the paper exchange on the desk's replayed market."""

    def __init__(self, loader: MarketLoader, *, clock: Callable[[], datetime], name: str = "VENUE",
                 refuse: Callable[[str], str] | None = None, pending_acks: bool = False, lot_size: int | Decimal = 1):
        self.loader = loader
        self.clock = clock
        self.name = name
        self.refuse = refuse or (lambda _clordid: "")
        self.pending_acks = pending_acks
        self.lot_size = lot_size
        self.orders: dict[str, VenueOrder] = {}
        self.by_clordid: dict[str, str] = {}
        self.positions: dict[str, dict[str, Decimal]] = {}
        self.exec_seq = 0
        self.order_seq = 0
        self.session: Any = None
        self.symbols: set[str] = set()
        self.ex: PaperExchange | None = None
        self.ex_venue: PaperVenue | None = None
        self._open: set[str] = set()  # keys whose last reported status is not terminal
        self._frozen: dict[str, str] = {}  # the JSON text of orders that are done (``dumps``)

    # -- requests

    def handle(self, req: Request) -> list[Report]:
        """The reports answering one request (fills that fell due before it come first)."""
        handler = {
            t.NEW_ORDER_SINGLE: self.new_order, t.ORDER_CANCEL_REQUEST: self.cancel,
            t.ORDER_CANCEL_REPLACE_REQUEST: self.replace, t.ORDER_STATUS_REQUEST: self.status,
            t.ORDER_MASS_STATUS_REQUEST: self.mass_status, t.REQUEST_FOR_POSITIONS: self.request_positions,
        }.get(req.msg_type)
        if handler is None:
            return [self.business_reject(req, f"unsupported message type {req.msg_type}", reason="3")]
        return handler(req)

    def new_order(self, req: Request) -> list[Report]:
        f = req.fields
        clordid = f.get(t.CL_ORD_ID, "")
        known = self.by_clordid.get(clordid)
        if known is not None:
            if req.poss_resend:  # the desk re-sent after a crash: tell it where the order stands
                return self._catch_up() + [self._status_report(self.orders[known])]
            return [self._unbooked_reject(req, f"duplicate ClOrdID {clordid}", t.REJ_DUPLICATE)]
        out = self._catch_up()
        side, ord_type, tif = f.get(t.SIDE, ""), f.get(t.ORD_TYPE, ""), f.get(t.TIME_IN_FORCE, "0")
        qty, px = decimal_or_none(f.get(t.ORDER_QTY)), decimal_or_none(f.get(t.PRICE))
        self.order_seq += 1
        rec = VenueOrder(
            key=clordid, order_id=f"{self.name}-{self.order_seq}", clordid=clordid, chain=[clordid], session=req.session,
            account=f.get(t.ACCOUNT, ""), symbol=f.get(t.SYMBOL, ""), side=side, ord_type=ord_type, tif=tif,
            quantity=num(qty) if qty is not None else "0", price=num(px) if px is not None and ord_type == "2" else None,
            day=self.session.day.isoformat(),
        )
        reason, code = self._check_new(f, side, ord_type, tif, qty, px)
        if not reason:
            try:
                self._ensure_symbol(rec.symbol)
            except LookupError:
                reason, code = f"unknown instrument {rec.symbol!r}", t.REJ_UNKNOWN_SYMBOL
        if not reason:
            reason, code = self.refuse(clordid), t.REJ_OTHER
        self.orders[clordid] = rec
        self.by_clordid[clordid] = clordid
        if reason:
            rec.reject, rec.reported_status = reason, OrderStatus.REJECTED.value
            return out + [self._er(rec, t.EXEC_REJECTED, "8", extra=((t.ORD_REJ_REASON, code), (t.TEXT, reason)))]
        order = ExecutionOrder(
            client_order_id=clordid, symbol=rec.symbol, side=SIDES[side], quantity=qty, venue=self.ex_venue.code,
            order_type=ORD_TYPES[ord_type], limit_price=px if ord_type == "2" else None, time_in_force=TIFS[tif],
            ts=to_ms(self.clock()),
        )
        result = self.ex.submit(order, _noop)
        if result.status is OrderStatus.REJECTED:
            rec.reported_status = OrderStatus.REJECTED.value
            code = t.REJ_EXCHANGE_CLOSED if "closed" in result.reason else t.REJ_OTHER
            return out + [self._er(rec, t.EXEC_REJECTED, "8", ts=order.ts,
                                   extra=((t.ORD_REJ_REASON, code), (t.TEXT, result.reason)))]
        # The ack says what the order was when accepted: fills made on arrival follow it.
        out.append(self._er(rec, t.EXEC_NEW, "0", ts=order.ts, cum=Decimal(0), avg=Decimal(0), leaves=qty))
        self._open.add(clordid)
        return out + self._collect()

    def _check_new(self, f, side, ord_type, tif, qty, px) -> tuple[str, str]:
        if side not in SIDES:
            return f"Side {side!r} is not supported (1 buy, 2 sell)", t.REJ_OTHER
        if ord_type not in ORD_TYPES:
            return f"OrdType {ord_type!r} is not supported (1 market, 2 limit)", t.REJ_OTHER
        if tif not in TIFS:
            return f"TimeInForce {tif!r} is not supported (0 day, 1 GTC, 3 IOC)", t.REJ_OTHER
        if qty is None or qty <= 0:
            return f"OrderQty {f.get(t.ORDER_QTY)!r} is not a positive quantity", t.REJ_INCORRECT_QTY
        if ord_type == "2" and (px is None or px <= 0):
            return "a limit order needs a positive Price (44)", t.REJ_OTHER
        return "", ""

    def cancel(self, req: Request) -> list[Report]:
        return self._cancel_or_replace(req, replace_=False)

    def replace(self, req: Request) -> list[Report]:
        return self._cancel_or_replace(req, replace_=True)

    def _cancel_or_replace(self, req: Request, *, replace_: bool) -> list[Report]:
        f = req.fields
        new, orig = f.get(t.CL_ORD_ID, ""), f.get(t.ORIG_CL_ORD_ID, "")
        to = t.CXL_REJ_TO_REPLACE if replace_ else t.CXL_REJ_TO_CANCEL
        out = self._catch_up()
        key = self.by_clordid.get(orig)
        if key is None:
            return out + [self._cxl_reject(None, new, orig, to, t.CXL_UNKNOWN_ORDER, f"unknown order {orig}", req.session)]
        rec = self.orders[key]
        if new in self.by_clordid:
            return out + [self._cxl_reject(rec, new, orig, to, t.CXL_DUPLICATE_CLORDID, f"duplicate ClOrdID {new}")]
        rec.chain.append(new)  # a refused request's ClOrdID still names the order
        self._frozen.pop(key, None)
        self.by_clordid[new] = key
        if rec.reject:
            return out + [self._cxl_reject(rec, new, orig, to, t.CXL_TOO_LATE, "too late: the order was rejected")]
        self.ex.advance(self.clock())
        out += self._collect()  # what filled up to now, first
        if rec.reported_status in TERMINAL_VALUES:
            return out + [self._cxl_reject(rec, new, orig, to, t.CXL_TOO_LATE,
                                           f"too late: the order is {rec.reported_status}")]
        for tag, want in ((t.SIDE, rec.side), (t.SYMBOL, rec.symbol)):
            got = f.get(tag)
            if got is not None and got != want:
                return out + [self._cxl_reject(rec, new, orig, to, t.CXL_OTHER, f"tag {tag} is {got!r}, the order's is {want!r}")]
        if not replace_:
            if self.pending_acks:
                out.append(self._er(rec, t.EXEC_PENDING_CANCEL, "6", clordid=new, orig=orig))
            result = self.ex.cancel(key)
            if result.refused:
                return out + [self._cxl_reject(rec, new, orig, to, t.CXL_TOO_LATE, result.refused)]
            rec.clordid, rec.reported_status = new, OrderStatus.CANCELED.value
            self._open.discard(key)
            return out + [self._er(rec, t.EXEC_CANCELED, "4", clordid=new, orig=orig, ts=result.ts,
                                   extra=((t.TEXT, "cancelled on request"),))]
        qty, px = decimal_or_none(f.get(t.ORDER_QTY)), decimal_or_none(f.get(t.PRICE))
        ord_type = f.get(t.ORD_TYPE, rec.ord_type)
        if ord_type != rec.ord_type:
            return out + [self._cxl_reject(rec, new, orig, to, t.CXL_OTHER, "OrdType cannot change on a replace")]
        if qty is not None and qty <= 0:
            return out + [self._cxl_reject(rec, new, orig, to, t.CXL_OTHER, f"OrderQty {num(qty)} is not positive")]
        if rec.ord_type == "2" and px is not None and px <= 0:
            return out + [self._cxl_reject(rec, new, orig, to, t.CXL_OTHER, f"Price {num(px)} is not positive")]
        if self.pending_acks:
            out.append(self._er(rec, t.EXEC_PENDING_REPLACE, "E", clordid=new, orig=orig))
        result = self.ex.amend(key, quantity=qty, limit_price=px if rec.ord_type == "2" else None)
        if result.refused:
            return out + [self._cxl_reject(rec, new, orig, to, t.CXL_OTHER, result.refused)]
        working = self.ex.order_of(key)
        rec.clordid, rec.quantity = new, num(working.quantity)
        rec.price = num(working.limit_price) if working.limit_price is not None else None
        rec.reported_status = result.status.value
        if result.status in TERMINAL:
            self._open.discard(key)
        return out + [self._er(rec, t.EXEC_REPLACED, ORD_STATUS[result.status], clordid=new, orig=orig, ts=result.ts)]

    def status(self, req: Request) -> list[Report]:
        f = req.fields
        key = self.by_clordid.get(f.get(t.CL_ORD_ID, ""))
        if key is None and f.get(t.ORDER_ID):
            key = next((k for k, r in self.orders.items() if r.order_id == f[t.ORDER_ID]), None)
        extra = ((t.ORD_STATUS_REQ_ID, f[t.ORD_STATUS_REQ_ID]),) if f.get(t.ORD_STATUS_REQ_ID) else ()
        if key is None:
            return [self._unbooked_reject(req, f"unknown order {f.get(t.CL_ORD_ID, '')}", t.REJ_UNKNOWN_ORDER,
                                          exec_type=t.EXEC_ORDER_STATUS, extra=extra)]
        out = self._work_now()
        return out + [self._status_report(self.orders[key], extra=extra)]

    def mass_status(self, req: Request) -> list[Report]:
        """One ``8``/``I`` per open order of the requesting session (``585=1``: of one Symbol); with none,
        one report with ``TotNumReports=0`` so the requester knows the answer is complete."""
        f = req.fields
        out = self._work_now()
        req_id = f.get(t.MASS_STATUS_REQ_ID, "")
        symbol = f.get(t.SYMBOL) if f.get(t.MASS_STATUS_REQ_TYPE) == "1" else None
        open_ = [r for k, r in self.orders.items() if k in self._open and (not req.session or r.session == req.session)
                 and (symbol is None or r.symbol == symbol)]
        if not open_:
            return out + [rp.no_open_orders(req, exec_id=self._exec_id(), symbol=symbol, ts=self.clock())]
        n = len(open_)
        for i, rec in enumerate(open_, 1):
            out.append(self._status_report(rec, extra=(
                (t.MASS_STATUS_REQ_ID, req_id), (t.TOT_NUM_REPORTS, str(n)), (t.LAST_RPT_REQUESTED, "Y" if i == n else "N"),
            )))
        return out

    def request_positions(self, req: Request) -> list[Report]:
        """``AO`` (the count, or ``PosReqResult=2`` for none) then one ``AP`` per symbol of the account asked for."""
        out = self._work_now()
        held = dict(sorted(self.positions.get(req.fields.get(t.ACCOUNT, ""), {}).items()))
        now = self.clock()
        marks = {}
        for symbol in held:
            try:
                marks[symbol] = Decimal(repr(self.ex.market.state(symbol, now).mark)).quantize(PX)
            except (KeyError, LookupError):
                marks[symbol] = Decimal(0)
        ids = [self._exec_id() for _ in range(len(held) + 1)]
        return out + rp.positions_reports(req, held, marks, ids=ids, name=self.name, day=self.session.day)

    def business_reject(self, req: Request, text: str, *, reason: str = "0") -> Report:
        return rp.business_reject(req, text, reason=reason)

    # -- time and sessions

    def tick(self) -> list[Report]:
        """Work every order up to market now: the fills (and expiries) that fell due."""
        return self._work_now()

    def session_down(self, session: str) -> list[Report]:
        """Cancel-on-disconnect: cancel every open order of ``session`` (what filled until now stands)."""
        out = self._work_now()
        for key in sorted(k for k in self._open if self.orders[k].session == session):
            rec = self.orders[key]
            result = self.ex.cancel(key)
            if result.refused:
                continue
            rec.reported_status = OrderStatus.CANCELED.value
            self._open.discard(key)
            out.append(self._er(rec, t.EXEC_CANCELED, "4", ts=result.ts, extra=((t.TEXT, "cancelled on disconnect"),)))
        return out

    def open_keys(self) -> list[str]:
        return sorted(self._open)

    def _work_now(self) -> list[Report]:
        out = self._catch_up()
        self.ex.advance(self.clock())
        return out + self._collect()

    def _catch_up(self) -> list[Report]:
        """Start the session of market now; first, orders of a session that has ended are worked to its close."""
        now = self.clock()
        s = self.loader.session(now)
        if self.session is None:
            self._start(s, [])
            return []
        if s.day == self.session.day:
            return []
        self.ex.advance(max(now, self.session.close))
        out = self._collect()
        self._start(s, [self.ex.export_order(k) for k in self.orders if not self.orders[k].reject])
        return out

    def _start(self, session, states: list[dict]) -> None:
        """A fresh matching for ``session`` with ``states`` restored; orders older than the last
        ``KEEP_SESSIONS`` sessions are forgotten (FIX asks ClOrdIDs to be unique per trading day).
        Everything is read first, so a failed read leaves the book on the session it was on."""
        days = sorted({r.day for r in self.orders.values()} | {session.day.isoformat()})[-KEEP_SESSIONS:]
        drop = {k for k, r in self.orders.items() if r.day not in days and k not in self._open}
        keep = [s for s in states if s["order"]["client_order_id"] in self.orders and s["order"]["client_order_id"] not in drop]
        symbols = {s["order"]["symbol"] for s in keep}
        venue = self.loader.venue()
        ex = PaperExchange([venue], market=self.loader.market(session, sorted(symbols)), clock=self.clock,
                           lot_size=self.lot_size)
        for st in keep:
            ex.restore_order({**st, "order": {**st["order"], "venue": venue.code}})
        for k in drop:
            self._frozen.pop(k, None)
            for c in self.orders.pop(k).chain:
                self.by_clordid.pop(c, None)
        self.session, self.ex_venue, self.ex, self.symbols = session, venue, ex, symbols

    def _ensure_symbol(self, symbol: str) -> None:
        if symbol not in self.symbols:
            market = self.loader.market(self.session, sorted(self.symbols | {symbol}))
            self.symbols.add(symbol)
            self.ex.market = market

    # -- reports

    def _collect(self) -> list[Report]:
        """Reports for what the matching did since the last look: new fills, then an expiry or IOC cancel."""
        out: list[Report] = []
        for key in sorted(self._open):
            rec = self.orders[key]
            r = self.ex.status(key)
            if len(r.fills) > rec.reported_fills:
                qty = self.ex.order_of(key).quantity
                done = r.fills[: rec.reported_fills]
                cum = sum((x.last_qty for x in done), Decimal(0))
                notional = sum((x.last_qty * x.last_px for x in done), Decimal(0))
                for fill in r.fills[rec.reported_fills:]:
                    cum += fill.last_qty
                    notional += fill.last_qty * fill.last_px
                    ord_status = "2" if cum >= qty else "1"
                    out.append(self._er(rec, t.EXEC_TRADE, ord_status, exec_id=fill.trade_id, ts=fill.ts_event,
                                        cum=cum, avg=notional / cum, leaves=max(qty - cum, Decimal(0)), extra=(
                                            (t.LAST_QTY, num(fill.last_qty)), (t.LAST_PX, num(fill.last_px)),
                                            (t.COMMISSION, num(fill.commission)), (t.COMM_TYPE, t.COMM_ABSOLUTE),
                                            (t.LAST_LIQUIDITY_IND, t.LIQ_ADDED if fill.liquidity_side.value == "MAKER" else t.LIQ_REMOVED),
                                        )))
                    book = self.positions.setdefault(rec.account, {})
                    book[rec.symbol] = book.get(rec.symbol, Decimal(0)) + fill.last_qty * fill.side.sign
                rec.reported_fills = len(r.fills)
            if r.status in TERMINAL:
                if r.status is not OrderStatus.FILLED and r.status.value != rec.reported_status:
                    exec_type = t.EXEC_EXPIRED if r.status is OrderStatus.EXPIRED else t.EXEC_CANCELED
                    out.append(self._er(rec, exec_type, ORD_STATUS[r.status], extra=((t.TEXT, r.reason),)))
                self._open.discard(key)
            rec.reported_status = r.status.value
        return out

    def _fill_figures(self, rec: VenueOrder) -> tuple[Decimal, Decimal, Decimal]:
        """CumQty, AvgPx and LeavesQty of ``rec`` as the matching has it now."""
        if rec.reject:  # refused before it reached the matching: it has no matching state
            return Decimal(0), Decimal(0), Decimal(0)
        r = self.ex.status(rec.key)
        cum = sum((x.last_qty for x in r.fills), Decimal(0))
        avg = sum((x.last_qty * x.last_px for x in r.fills), Decimal(0)) / cum if cum else Decimal(0)
        leaves = Decimal(0) if r.status in TERMINAL else self.ex.order_of(rec.key).quantity - cum
        return cum, avg, leaves

    def _exec_id(self) -> str:
        self.exec_seq += 1
        return f"{self.name}.{self.exec_seq}"

    def _er(self, rec: VenueOrder, exec_type: str, ord_status: str, *, clordid: str | None = None, orig: str | None = None,
            exec_id: str | None = None, ts: datetime | None = None, cum: Decimal | None = None, avg: Decimal | None = None,
            leaves: Decimal | None = None, extra: tuple[tuple[int, str], ...] = ()) -> Report:
        if cum is None:
            cum, avg, leaves = self._fill_figures(rec)
        return rp.execution_report(rec, exec_type, ord_status, exec_id=exec_id or self._exec_id(), cum=cum, avg=avg,
                                   leaves=leaves, ts=ts or self.clock(), clordid=clordid, orig=orig, extra=extra)

    def _status_report(self, rec: VenueOrder, extra: tuple[tuple[int, str], ...] = ()) -> Report:
        status = OrderStatus(rec.reported_status)
        i = rec.chain.index(rec.clordid)
        text = ((t.TEXT, rec.reject),) if rec.reject else ()
        return self._er(rec, t.EXEC_ORDER_STATUS, ORD_STATUS.get(status, "0"), orig=rec.chain[i - 1] if i > 0 else None,
                        extra=text + extra)

    def _unbooked_reject(self, req: Request, text: str, code: str, *, exec_type: str = t.EXEC_REJECTED,
                         extra: tuple[tuple[int, str], ...] = ()) -> Report:
        return rp.unbooked_report(req, exec_id=self._exec_id(), exec_type=exec_type, text=text, code=code, ts=self.clock(),
                                  extra=extra)

    def _cxl_reject(self, rec: VenueOrder | None, new: str, orig: str, to: str, reason: str, text: str,
                    session: str = "") -> Report:
        status = ORD_STATUS.get(OrderStatus(rec.reported_status), "0") if rec is not None else "8"
        return rp.cancel_reject(rec, new=new, orig=orig, to=to, reason=reason, text=text, ord_status=status, session=session)

    # -- the book as data

    def dumps(self, **extra) -> str:
        """The book as JSON text (``extra`` as more top-level keys). An order that is done no longer changes,
        so its text is made once: a write costs what the open orders cost, not the whole day's."""
        head = {
            "version": 1, "name": self.name, "exec_seq": self.exec_seq, "order_seq": self.order_seq,
            "session_open": self.session.open.isoformat() if self.session else None,
            "positions": {a: {s: num(q) for s, q in held.items()} for a, held in self.positions.items()}, **extra,
        }
        parts = []
        for k, r in self.orders.items():
            text = self._frozen.get(k)
            if text is None:
                text = json.dumps({**asdict(r), "state": None if r.reject else self.ex.export_order(k)}, separators=(",", ":"))
                if r.reported_status in TERMINAL_VALUES:
                    self._frozen[k] = text
            parts.append(text)
        return json.dumps(head, separators=(",", ":"))[:-1] + ',"orders":[' + ",".join(parts) + "]}"

    def to_json(self) -> dict:
        return json.loads(self.dumps())

    def load_json(self, data: dict) -> None:
        """Put back a book ``dumps`` wrote: orders are worked from where they were, on the market of
        the session they were in (an order of a session that has since closed expires at its close)."""
        self.exec_seq, self.order_seq = int(data["exec_seq"]), int(data["order_seq"])
        self.positions = {a: {s: Decimal(q) for s, q in held.items()} for a, held in data.get("positions", {}).items()}
        states = []
        for d in data.get("orders", []):
            state = d.pop("state", None)
            rec = VenueOrder(**d)
            self.orders[rec.key] = rec
            for c in rec.chain:
                self.by_clordid[c] = rec.key
            if state is not None:
                states.append(state)
            if rec.reported_status not in TERMINAL_VALUES:
                self._open.add(rec.key)
        opened = data.get("session_open")
        session = self.loader.session(datetime.fromisoformat(opened) if opened else self.clock())
        self._start(session, states)


def _noop(_fill) -> None:
    return None
