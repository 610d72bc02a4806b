"""The venue's outbound messages as ``Report`` data, built from its record of an order (pure)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from fix_app.venue import tags as t
from fix_app.venue.records import ORD_TYPES, PX, SIDES, TIFS, Report, Request, VenueOrder, fix_time, num

Fields = tuple[tuple[int, str], ...]


def execution_report(rec: VenueOrder, exec_type: str, ord_status: str, *, exec_id: str, cum: Decimal, avg: Decimal,
                     leaves: Decimal, ts: datetime, clordid: str | None = None, orig: str | None = None,
                     extra: Fields = ()) -> Report:
    """An 8 on ``rec``: its OrderID, the ClOrdID in force (or ``clordid``), the order as the venue works it, the
    cumulative figures; ``extra`` carries the fill (LastQty, LastPx, Commission...) or the Text."""
    fields: list[tuple[int, str]] = [(t.ORDER_ID, rec.order_id), (t.CL_ORD_ID, clordid or rec.clordid)]
    if orig:
        fields.append((t.ORIG_CL_ORD_ID, orig))
    fields += [(t.EXEC_ID, exec_id), (t.EXEC_TYPE, exec_type), (t.ORD_STATUS, ord_status)]
    if rec.account:
        fields.append((t.ACCOUNT, rec.account))
    fields += [(t.SYMBOL, rec.symbol), (t.SIDE, rec.side if rec.side in SIDES else "1"), (t.ORDER_QTY, rec.quantity)]
    if rec.ord_type in ORD_TYPES:
        fields.append((t.ORD_TYPE, rec.ord_type))
    if rec.price is not None:
        fields.append((t.PRICE, rec.price))
    if rec.tif in TIFS:
        fields.append((t.TIME_IN_FORCE, rec.tif))
    fields += [(t.LEAVES_QTY, num(leaves)), (t.CUM_QTY, num(cum)), (t.AVG_PX, num(avg.quantize(PX))),
               (t.TRANSACT_TIME, fix_time(ts))]
    return Report(t.EXECUTION_REPORT, tuple(fields) + tuple(extra), rec.session)


def unbooked_report(req: Request, *, exec_id: str, exec_type: str, text: str, code: str, ts: datetime,
                    extra: Fields = ()) -> Report:
    """An 8 on a ClOrdID that names no order of the book (a duplicate ClOrdID, an unknown order): OrderID NONE."""
    f = req.fields
    side = f.get(t.SIDE, "1")
    return Report(t.EXECUTION_REPORT, (
        (t.ORDER_ID, "NONE"), (t.CL_ORD_ID, f.get(t.CL_ORD_ID, "")), (t.EXEC_ID, exec_id), (t.EXEC_TYPE, exec_type),
        (t.ORD_STATUS, "8"), (t.SYMBOL, f.get(t.SYMBOL, "NONE")), (t.SIDE, side if side in SIDES else "1"),
        (t.LEAVES_QTY, "0"), (t.CUM_QTY, "0"), (t.AVG_PX, "0"), (t.TRANSACT_TIME, fix_time(ts)), (t.ORD_REJ_REASON, code),
        (t.TEXT, text),
    ) + extra, req.session)


def no_open_orders(req: Request, *, exec_id: str, symbol: str | None, ts: datetime) -> Report:
    """The answer to a mass status request when nothing is open: one 8/I with TotNumReports=0."""
    return Report(t.EXECUTION_REPORT, (
        (t.ORDER_ID, "NONE"), (t.CL_ORD_ID, "NONE"), (t.EXEC_ID, exec_id), (t.EXEC_TYPE, t.EXEC_ORDER_STATUS),
        (t.ORD_STATUS, "8"), (t.SYMBOL, symbol or "NONE"), (t.SIDE, "1"), (t.LEAVES_QTY, "0"), (t.CUM_QTY, "0"),
        (t.AVG_PX, "0"), (t.TRANSACT_TIME, fix_time(ts)), (t.TEXT, "no open orders"),
        (t.MASS_STATUS_REQ_ID, req.fields.get(t.MASS_STATUS_REQ_ID, "")), (t.TOT_NUM_REPORTS, "0"), (t.LAST_RPT_REQUESTED, "Y"),
    ), req.session)


def cancel_reject(rec: VenueOrder | None, *, new: str, orig: str, to: str, reason: str, text: str, ord_status: str,
                  session: str) -> Report:
    """A 9: the cancel (``to`` 1) or replace (2) of ``orig`` under the new ClOrdID ``new`` is refused."""
    return Report(t.ORDER_CANCEL_REJECT, (
        (t.ORDER_ID, rec.order_id if rec else "NONE"), (t.CL_ORD_ID, new), (t.ORIG_CL_ORD_ID, orig),
        (t.ORD_STATUS, ord_status), (t.CXL_REJ_RESPONSE_TO, to), (t.CXL_REJ_REASON, reason), (t.TEXT, text),
    ) + (((t.ACCOUNT, rec.account),) if rec is not None and rec.account else ()), rec.session if rec else session)


def business_reject(req: Request, text: str, *, reason: str = "0") -> Report:
    return Report(t.BUSINESS_MESSAGE_REJECT, (
        (t.REF_SEQ_NUM, str(req.seq)), (t.REF_MSG_TYPE, req.msg_type), (t.BUSINESS_REJECT_REASON, reason), (t.TEXT, text[:200]),
    ), req.session)


def positions_reports(req: Request, held: dict[str, Decimal], marks: dict[str, Decimal], *, ids: list[str], name: str,
                      day: date) -> list[Report]:
    """AO (how many follow, or PosReqResult=2 for none), then one AP per symbol: the account's net filled quantity
    as LongQty/ShortQty and the mark as SettlPrice. ``ids``: a PosMaintRptID for the AO and each AP."""
    f = req.fields
    account, acct_type, req_id = f.get(t.ACCOUNT, ""), f.get(t.ACCOUNT_TYPE, "1"), f.get(t.POS_REQ_ID, "")
    parties = ((t.NO_PARTY_IDS, (((t.PARTY_ID, name), (t.PARTY_ID_SOURCE, "D"), (t.PARTY_ROLE, "1")),)),)
    n = str(len(held))
    out = [Report(t.REQUEST_FOR_POSITIONS_ACK, (
        (t.POS_MAINT_RPT_ID, ids[0]), (t.POS_REQ_ID, req_id), (t.TOTAL_NUM_POS_REPORTS, n),
        (t.POS_REQ_RESULT, "0" if held else "2"), (t.POS_REQ_STATUS, "0"), (t.ACCOUNT, account), (t.ACCOUNT_TYPE, acct_type),
    ), req.session, parties)]
    for rpt_id, (symbol, qty) in zip(ids[1:], held.items()):
        mark = num(marks.get(symbol, Decimal(0)))
        out.append(Report(t.POSITION_REPORT, (
            (t.POS_MAINT_RPT_ID, rpt_id), (t.POS_REQ_ID, req_id), (t.POS_REQ_TYPE, "0"), (t.TOTAL_NUM_POS_REPORTS, n),
            (t.POS_REQ_RESULT, "0"), (t.CLEARING_BUSINESS_DATE, day.strftime("%Y%m%d")), (t.ACCOUNT, account),
            (t.ACCOUNT_TYPE, acct_type), (t.SYMBOL, symbol), (t.SETTL_PRICE, mark), (t.SETTL_PRICE_TYPE, "1"),
            (t.PRIOR_SETTL_PRICE, mark),
        ), req.session, parties + ((t.NO_POSITIONS, (((t.POS_TYPE, "TQ"), (t.LONG_QTY, num(max(qty, Decimal(0)))),
                                                      (t.SHORT_QTY, num(max(-qty, Decimal(0))))),)),)))
    return out
