"""What a venue sends, received (services): execution reports and cancel rejects, session rejects.

The gateway's one ORM thread applies the reports its journal holds, many to a transaction
(``reports_receive``): each once per (venue, ExecID) - a repeat (PossDup, PossResend) finds its
``FixExecution`` and changes nothing; the order is found by any ClOrdID of its chain; the report
is applied whole or not at all (``orders_app.report_batch``: the batch's rows read once, its
writes made together; ``orders_app.reports.report_apply`` for the rarer kinds). A report that
breaks is a ``ReconciliationBreak`` with an alert, recorded in the batch's transaction; the rest of
the batch applies. A report on no order of the desk is recorded, alerted and answered with a
DontKnowTrade (the gateway sends it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction

from fix_app import mapping, services
from fix_app.models import FixCommand, FixExecution, ReconciliationBreak
from market_app.clock import get_clock
from orders_app.models import Order, Venue
from desk.interfaces import FillReport, LiquiditySide, Side
from desk.bulk import Writes, bound_cursor
from orders_app.report_batch import ACKS
from orders_app.report_batch import Item as BatchItem
from orders_app.report_batch import reports_apply_many
from orders_app.reports import ReportBreak, VenueReport, report_apply

log = logging.getLogger("desk.fix")

# OrdStatus of a finished order -> the desk status it settles a doubtful order to.
_SETTLES = {"4": "CANCELED", "C": "EXPIRED", "3": "EXPIRED", "8": "REJECTED"}
_TRADES = ("FILL", "CORRECT")


@dataclass(frozen=True)
class Answer:
    """What the gateway does after a report: nothing, or send a DontKnowTrade."""

    outcome: str  # applied | duplicate | break | unknown
    dont_know: str = ""  # why, when a DontKnowTrade is due


@dataclass(frozen=True)
class Link:
    """A ClOrdID's order, as far as it never changes once the ClOrdID exists: the gateway may keep it."""

    order_id: int
    portfolio_id: int
    parent_id: int | None
    client_order_id: str
    symbol: str
    side: str

    @classmethod
    def of(cls, order: Order) -> "Link":
        return cls(order.pk, order.portfolio_id, order.parent_id, order.client_order_id, order.instrument.symbol, order.side)


@dataclass
class Memory:
    """What the ORM thread remembers between reports: ClOrdID -> order, and ClOrdIDs already acknowledged."""

    links: dict[tuple[int, str], Link] = field(default_factory=dict)
    acked: set[tuple[int, str]] = field(default_factory=set)


def trade_id(venue: Venue, exec_id: str) -> str:
    """A fill's trade id: the venue's ExecID, under the venue's code (two venues may reuse an ExecID)."""
    return f"{venue.code}:{exec_id}"


def _link(venue: Venue, r: mapping.Report, memory: Memory) -> Link | None:
    for key in (r.cl_ord_id, r.orig_cl_ord_id):
        if key and (venue.pk, key) in memory.links:
            return memory.links[(venue.pk, key)]
    found = services.link_find(venue=venue, cl_ord_id=r.cl_ord_id, orig_cl_ord_id=r.orig_cl_ord_id)
    if found is None:
        return None
    link = Link.of(Order.objects.select_related("instrument").get(pk=found.order_id))
    memory.links[(venue.pk, found.cl_ord_id)] = link
    return link


def _venue_report(venue: Venue, r: mapping.Report, link: Link) -> VenueReport:
    ts = r.transact_time
    fill = None
    if r.kind in _TRADES:
        fill = FillReport(trade_id=trade_id(venue, r.exec_id), client_order_id=link.client_order_id, venue=venue.code,
                          symbol=link.symbol, side=Side(link.side), last_qty=r.last_qty, last_px=r.last_px,
                          commission=r.commission, liquidity_side=LiquiditySide.TAKER, ts_event=ts or get_clock().market_now())
    return VenueReport(
        kind=r.kind, venue=venue.code, reason=r.text, ts=ts, fill=fill,
        quantity=r.order_qty if r.kind == "REPLACED" else None, limit_price=r.price if r.kind == "REPLACED" else None,
        ref_trade_id=trade_id(venue, r.exec_ref_id) if r.exec_ref_id else "",
        venue_status=_SETTLES.get(r.ord_status, ""),
        cum_qty=r.cum_qty, leaves_qty=r.leaves_qty, statuses=mapping.STATUS_ALLOWS.get(r.ord_status, frozenset()),
    )


def _execution(venue: Venue, r: mapping.Report, *, order_id: int | None, outcome: str, detail: dict | None = None) -> FixExecution:
    return FixExecution(
        venue=venue, exec_id=r.exec_id, order_id=order_id, msg_type=r.msg_type, exec_type=r.exec_type, ord_status=r.ord_status,
        cl_ord_id=r.cl_ord_id, orig_cl_ord_id=r.orig_cl_ord_id, exec_ref_id=r.exec_ref_id, last_qty=r.last_qty,
        last_px=r.last_px, commission=r.commission if r.kind in _TRADES else None, cum_qty=r.cum_qty,
        leaves_qty=r.leaves_qty, trade_id=trade_id(venue, r.exec_id) if r.kind in _TRADES else "",
        transact_time=r.transact_time, poss_dup=r.poss_dup or r.poss_resend, outcome=outcome, detail=detail or {},
    )


def _claim(row: FixExecution) -> bool:
    """Insert ``row`` unless (venue, ExecID) is there already: the one place a repeated report stops. One statement."""
    return _claim_many([row])[0]


def _receive(venue: Venue, r: mapping.Report, memory: Memory, acked: set) -> Answer:
    """One report inside the caller's transaction; raises ``ReportBreak`` (out of it) when it breaks."""
    link = _link(venue, r, memory)
    row = _execution(venue, r, order_id=link.order_id if link else None,
                     outcome=FixExecution.Outcome.APPLIED if link else FixExecution.Outcome.UNKNOWN)
    if not _claim(row):
        return Answer("duplicate")
    if link is None:
        why = f"no order of the desk has ClOrdID {r.cl_ord_id or r.orig_cl_ord_id!r} at {venue.code}"
        services.break_record(venue=venue, kind=ReconciliationBreak.Kind.UNKNOWN_ORDER, detail={"why": why, **r.as_detail()})
        return Answer("unknown", dont_know=why if r.msg_type == mapping.EXECUTION_REPORT else "")
    outcome = report_apply(order_id=link.order_id, report=_venue_report(venue, r, link), head=(link.portfolio_id, link.parent_id))
    cl = r.cl_ord_id or r.orig_cl_ord_id
    if r.kind == "STATUS" or ((venue.pk, cl) not in memory.acked and (venue.pk, cl) not in acked):
        services.commands_ack(venue=venue, cl_ord_id=cl, status=r.kind == "STATUS")
        acked.add((venue.pk, cl))
    return _applied(venue, r, outcome, link)


def _break(venue: Venue, r: mapping.Report, b: ReportBreak, memory: Memory) -> Answer:
    """Record a report that broke (its own transaction rolled back): the report, the break, the alert."""
    with transaction.atomic():
        detail = {"why": b.why, "desk_status": b.status, **r.as_detail()}
        if not _claim(_execution(venue, r, order_id=b.order_id, outcome=FixExecution.Outcome.BREAK, detail=detail)):
            return Answer("duplicate")
        services.commands_ack(venue=venue, cl_ord_id=r.cl_ord_id or r.orig_cl_ord_id, status=r.kind == "STATUS")
        services.break_record(venue=venue, kind=b.kind, detail=detail, order=Order.objects.filter(pk=b.order_id).first())
    log.warning("fix.break", extra={"venue": venue.code, "exec_id": r.exec_id, "why": b.why})
    return Answer("break")


def report_receive(*, venue: Venue, report: mapping.Report, memory: Memory | None = None) -> Answer:
    """Apply one report from ``venue`` once, in its own transaction (see the module docstring)."""
    memory = memory or Memory()
    acked: set = set()
    try:
        with transaction.atomic():
            answer = _receive(venue, report, memory, acked)
    except ReportBreak as b:
        return _break(venue, report, b, memory)
    memory.acked |= acked
    return answer


def reports_receive(*, items: list[tuple[Venue, mapping.Report]], memory: Memory | None = None,
                    also: Callable[[], None] | None = None) -> list[Answer]:
    """Apply many reports in one transaction, in the order given (``also`` runs in it too: the journal's offset).

    Each once per (venue, ExecID) - a repeat inside the batch as well as of an earlier one; the rows they
    need are read once for the batch (``orders_app.report_batch``); a report that breaks is recorded as a
    break in the same transaction, and the others apply.
    """
    memory = memory or Memory()
    if _acks_only(items, memory):
        try:
            return _acks_receive(items, memory, also)
        except _Unlocked:
            pass  # rolled back: the general way below
    acked: set = set()
    with transaction.atomic():
        links = _links(items, memory)
        rows = [_execution(v, r, order_id=link.order_id if link else None,
                           outcome=FixExecution.Outcome.APPLIED if link else FixExecution.Outcome.UNKNOWN)
                for (v, r), link in zip(items, links)]
        claimed = _claim_many(rows)
        answers: list[Answer | None] = [None] * len(items)
        work: list[int] = []
        for i, ((venue, r), link, new) in enumerate(zip(items, links, claimed)):
            if not new:
                answers[i] = Answer("duplicate")
            elif link is None:
                why = f"no order of the desk has ClOrdID {r.cl_ord_id or r.orig_cl_ord_id!r} at {venue.code}"
                services.break_record(venue=venue, kind=ReconciliationBreak.Kind.UNKNOWN_ORDER, detail={"why": why, **r.as_detail()})
                answers[i] = Answer("unknown", dont_know=why if r.msg_type == mapping.EXECUTION_REPORT else "")
            else:
                work.append(i)
        results = reports_apply_many(items=[
            BatchItem(links[i].order_id, _venue_report(items[i][0], items[i][1], links[i]), (links[i].portfolio_id, links[i].parent_id))
            for i in work])
        due: dict[int, tuple[Venue, set[str]]] = {}
        for i, result in zip(work, results):
            venue, r = items[i]
            cl = r.cl_ord_id or r.orig_cl_ord_id
            if r.kind == "STATUS":
                services.commands_ack(venue=venue, cl_ord_id=cl, status=True)
            elif (venue.pk, cl) not in memory.acked and (venue.pk, cl) not in acked:
                due.setdefault(venue.pk, (venue, set()))[1].add(cl)
            acked.add((venue.pk, cl))
            if isinstance(result, ReportBreak):
                answers[i] = _break_in_batch(venue, r, result)
                continue
            answers[i] = _applied(venue, r, result, links[i])
        for venue, cls in due.values():
            services.commands_ack_many(venue=venue, cl_ord_ids=cls)
        if also is not None:
            also()
    memory.acked |= acked
    return answers


class _Unlocked(Exception):
    """An order of an acknowledgement batch was not there to lock."""


def _acks_only(items: list[tuple[Venue, mapping.Report]], memory: Memory) -> bool:
    """A batch of acknowledgements (8/0, 8/A) of orders the gateway sent: the commonest, applied in two statements."""
    return connection.vendor == "postgresql" and all(
        r.kind in ACKS and any(k and (v.pk, k) in memory.links for k in (r.cl_ord_id, r.orig_cl_ord_id)) for v, r in items)


def _acks_receive(items: list[tuple[Venue, mapping.Report]], memory: Memory, also: Callable[[], None] | None) -> list[Answer]:
    """``reports_receive`` of acknowledgements (``_acks_only``) on PostgreSQL: what it reads and claims in one statement
    (the executions inserted unless seen, the orders and their parents locked and read), the rules applied in hand
    (``orders_app.report_batch``), what they changed and the commands acknowledged written in a second."""
    acked: set = set()
    with transaction.atomic():
        links = _links(items, memory)
        rows = [_execution(v, r, order_id=link.order_id, outcome=FixExecution.Outcome.APPLIED) for (v, r), link in zip(items, links)]
        order_ids = sorted({link.order_id for link in links} | {link.parent_id for link in links if link.parent_id})
        claimed, orders = _claim_and_lock(rows, order_ids)
        if len(orders) < len(order_ids):
            raise _Unlocked(sorted(set(order_ids) - set(orders)))
        answers: list[Answer | None] = [None] * len(items)
        work = [i for i, new in enumerate(claimed) if new]
        for i, new in enumerate(claimed):
            if not new:
                answers[i] = Answer("duplicate")
        writes = Writes()
        due: dict[int, tuple[Venue, set[str]]] = {}
        for i in work:
            venue, r = items[i]
            cl = r.cl_ord_id or r.orig_cl_ord_id
            if (venue.pk, cl) not in memory.acked and (venue.pk, cl) not in acked:
                due.setdefault(venue.pk, (venue, set()))[1].add(cl)
            acked.add((venue.pk, cl))
        for venue, cls in due.values():
            services.commands_ack_many(venue=venue, cl_ord_ids=cls, writes=writes)
        results = reports_apply_many(items=[
            BatchItem(links[i].order_id, _venue_report(items[i][0], items[i][1], links[i]), (links[i].portfolio_id, links[i].parent_id))
            for i in work], writes=writes, orders=orders)
        writes.run()  # when no report was applied (each a break)
        for i, result in zip(work, results):
            venue, r = items[i]
            answers[i] = _break_in_batch(venue, r, result) if isinstance(result, ReportBreak) else _applied(venue, r, result, links[i])
        if also is not None:
            also()
    memory.acked |= acked
    return answers


_LOCK_SQL: str | None = None


def _lock_sql() -> tuple[str, list[tuple]]:
    """The orders (with instrument and venue) locked by id: the statement, and each model's fields in its columns."""
    global _LOCK_SQL
    from market_app.models import Instrument

    q = connection.ops.quote_name
    parts = [(Order, "o"), (Instrument, "i"), (Venue, "v")]
    shapes = [(model, [f for f in model._meta.concrete_fields]) for model, _ in parts]
    if _LOCK_SQL is None:
        cols = ", ".join(f"{alias}.{q(f.column)}" for (model, alias), (_, fields) in zip(parts, shapes) for f in fields)
        o = Order._meta
        _LOCK_SQL = (f"SELECT {cols}, ARRAY(SELECT x.venue_id::text || ':' || x.exec_id FROM x) "  # nosec B608 - identifiers from model metadata, quoted; values bound
                     f"FROM {q(o.db_table)} o JOIN {q(Instrument._meta.db_table)} i ON i.id = o.{q(o.get_field('instrument').column)} "
                     f"LEFT JOIN {q(Venue._meta.db_table)} v ON v.id = o.{q(o.get_field('venue').column)} "
                     f"WHERE o.id = ANY(%s) ORDER BY o.id FOR UPDATE OF o")
    return _LOCK_SQL, shapes


def _claim_and_lock(rows: list[FixExecution], order_ids: list[int]) -> tuple[list[bool], dict[int, Order]]:
    """``_claim_many`` and the orders ``order_ids`` locked and read (with instrument and venue), in one statement."""
    first, fresh, insert, values = _claim_sql(rows)
    lock, shapes = _lock_sql()
    sql = f"WITH x AS ({insert}) {lock}"
    with bound_cursor() as cur:
        cur.execute(sql, [*values, order_ids])
        got = cur.fetchall()
    orders: dict[int, Order] = {}
    inserted: set[str] = set(got[0][-1]) if got else set()
    for r in got:
        objs, at = [], 0
        for model, fields_ in shapes:
            vals = list(r[at:at + len(fields_)])
            at += len(fields_)
            if vals[0] is None:  # no venue
                objs.append(None)
                continue
            for k, f in enumerate(fields_):
                if hasattr(f, "from_db_value"):
                    vals[k] = f.from_db_value(vals[k], None, connection)
            objs.append(model.from_db(connection.alias, [f.attname for f in fields_], vals))
        order, instrument, venue = objs
        order._state.fields_cache["instrument"] = instrument
        order._state.fields_cache["venue"] = venue
        orders[order.pk] = order
    if not got:  # nothing locked: the caller falls back (the insert is rolled back with its transaction)
        return [False] * len(rows), orders
    return _claimed(rows, first, {(row.venue_id, row.exec_id) for row in fresh if f"{row.venue_id}:{row.exec_id}" in inserted}), orders


def _links(items: list[tuple[Venue, mapping.Report]], memory: Memory) -> list[Link | None]:
    """Each report's order, from memory, else from the ClOrdID chains in one query (and their orders in another)."""
    wanted = {(v.pk, key) for v, r in items for key in (r.cl_ord_id, r.orig_cl_ord_id)
              if key and not any((v.pk, k) in memory.links for k in (r.cl_ord_id, r.orig_cl_ord_id) if k)}
    if wanted:
        found = services.links_find(keys=wanted)
        orders = {o.pk: o for o in Order.objects.select_related("instrument").filter(pk__in={o for o in found.values()})}
        for key, order_id in found.items():
            memory.links[key] = Link.of(orders[order_id])
    out = []
    for v, r in items:
        out.append(next((memory.links[(v.pk, k)] for k in (r.cl_ord_id, r.orig_cl_ord_id) if k and (v.pk, k) in memory.links), None))
    return out


def _claim_sql(rows: list[FixExecution]) -> tuple[dict[tuple[int, str], int], list[FixExecution], str, list]:
    """The insert of ``rows`` unless its (venue, ExecID) is there already or comes earlier in ``rows``, returning the
    (venue, ExecID) of each row inserted: (each key's first row, the rows inserted, the statement, its values)."""
    first: dict[tuple[int, str], int] = {}
    for i, row in enumerate(rows):
        first.setdefault((row.venue_id, row.exec_id), i)
    fresh = [rows[i] for i in sorted(first.values())]
    fields = [f for f in FixExecution._meta.concrete_fields if not f.primary_key]
    q = connection.ops.quote_name
    one = f"({', '.join(['%s'] * len(fields))})"
    values = [f.get_db_prep_save(f.pre_save(row, add=True), connection) for row in fresh for f in fields]
    sql = (f"INSERT INTO {q(FixExecution._meta.db_table)} ({', '.join(q(f.column) for f in fields)}) "  # nosec B608 - identifiers from model metadata, quoted; values bound
           f"VALUES {', '.join([one] * len(fresh))} ON CONFLICT (venue_id, exec_id) DO NOTHING RETURNING venue_id, exec_id, id")
    return first, fresh, sql, values


def _claim_many(rows: list[FixExecution]) -> list[bool]:
    """Insert each row unless its (venue, ExecID) is there already or comes earlier in ``rows``: one statement."""
    if not rows:
        return []
    first, fresh, sql, values = _claim_sql(rows)
    with connection.cursor() as cur:
        cur.execute(sql, values)
        got = {(venue_id, exec_id): pk for venue_id, exec_id, pk in cur.fetchall()}
    for row in fresh:
        row.pk = got.get((row.venue_id, row.exec_id))
    return _claimed(rows, first, set(got))


def _claimed(rows: list[FixExecution], first: dict[tuple[int, str], int], got: set[tuple[int, str]]) -> list[bool]:
    """Per row: whether it is the one that inserted its (venue, ExecID)."""
    return [first[(row.venue_id, row.exec_id)] == i and (row.venue_id, row.exec_id) in got for i, row in enumerate(rows)]


def _applied(venue: Venue, r: mapping.Report, outcome, link: Link) -> Answer:
    if r.kind == "REPLACED" and r.cl_ord_id:
        services.link_live(venue=venue, cl_ord_id=r.cl_ord_id)
    if r.kind in ("BUST", "CORRECT") and not outcome.noop:
        verb = "busted" if r.kind == "BUST" else "corrected"
        services.break_record(
            venue=venue, kind=ReconciliationBreak.Kind.BUST if r.kind == "BUST" else ReconciliationBreak.Kind.CORRECT,
            detail={"why": f"trade {r.exec_ref_id} {verb} by the venue", **r.as_detail()}, order=Order.objects.get(pk=link.order_id),
            severity="critical", resolution=f"applied: fill {trade_id(venue, r.exec_ref_id)} {verb}, position rebooked",
        )
    return Answer("applied")


def _break_in_batch(venue: Venue, r: mapping.Report, b: ReportBreak) -> Answer:
    """A report of a batch that broke (nothing of it applied): its execution row says so, and the break is recorded."""
    detail = {"why": b.why, "desk_status": b.status, **r.as_detail()}
    FixExecution.objects.filter(venue=venue, exec_id=r.exec_id).update(outcome=FixExecution.Outcome.BREAK, detail=detail,
                                                                       order_id=b.order_id)
    services.break_record(venue=venue, kind=b.kind, detail=detail, order=Order.objects.filter(pk=b.order_id).first())
    log.warning("fix.break", extra={"venue": venue.code, "exec_id": r.exec_id, "why": b.why})
    return Answer("break")


@transaction.atomic
def session_reject_receive(*, venue: Venue, ref_seq_num: int, text: str) -> str:
    """The venue refused one of our messages at session level (3) or business level (j): its command failed.

    A refused new order is a rejected order (re-routed like any); a refused cancel or replace puts
    the order back where it was. Returns what it did.
    """
    cmd = services.command_by_seq(venue=venue, seq_num=ref_seq_num)
    if cmd is None or cmd.state not in (FixCommand.State.SENT, FixCommand.State.PENDING):
        return "no command"
    why = f"{venue.code} refused the message: {text or 'no reason given'}"
    services.command_fail(cmd, why=why)
    kind = {FixCommand.Kind.NEW: "REJECTED", FixCommand.Kind.CANCEL: "CANCEL_REFUSED",
            FixCommand.Kind.REPLACE: "REPLACE_REFUSED"}.get(cmd.kind)
    if kind is None:
        return "status request refused"
    try:
        with transaction.atomic():
            report_apply(order_id=cmd.order_id, report=VenueReport(kind=kind, venue=venue.code, reason=why))
    except ReportBreak as b:
        services.break_record(venue=venue, kind=b.kind, order=Order.objects.get(pk=cmd.order_id),
                              detail={"why": b.why, "cl_ord_id": cmd.cl_ord_id, "ref_seq_num": ref_seq_num, "text": text})
    return kind.lower()


def malformed_receive(*, venue: Venue, why: str, raw: str) -> None:
    """A message refused at session level as malformed: recorded so a person sees it."""
    services.break_record(venue=venue, kind=ReconciliationBreak.Kind.MALFORMED,
                          detail={"why": why, "raw": raw[:2000].replace("\x01", "|")})


__all__ = ["Answer", "Link", "Memory", "malformed_receive", "report_receive", "reports_receive", "session_reject_receive", "trade_id"]
