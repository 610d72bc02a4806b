"""Between QuickFIX messages and the book's plain data: inbound raw messages to ``Request``, ``Report`` to messages."""

from __future__ import annotations

from datetime import datetime, timezone

import quickfix as fix

from fix_app.venue import tags as t
from fix_app.venue.records import Report, Request

SOH = "\x01"


def parse(raw: str) -> dict[int, str]:
    """A raw FIX message's fields by tag; a repeated tag keeps its first value (the venue reads no groups)."""
    out: dict[int, str] = {}
    for part in raw.split(SOH):
        tag, sep, value = part.partition("=")
        if sep and tag.isdigit():
            out.setdefault(int(tag), value)
    return out


def request_from(message: fix.Message, session: str) -> Request:
    fields = parse(message.toString())
    return Request(
        msg_type=fields.get(t.MSG_TYPE, ""), fields=fields, session=session,
        poss_resend=fields.get(t.POSS_RESEND) == "Y" or fields.get(t.POSS_DUP_FLAG) == "Y",
        seq=int(fields.get(t.MSG_SEQ_NUM, "0") or 0),
    )


def mark_poss_dup(message: fix.Message) -> None:
    """PossDupFlag=Y with OrigSendingTime (a receiving QuickFIX session rejects the flag without it)."""
    header = message.getHeader()
    header.setField(fix.PossDupFlag(True))
    header.setField(t.ORIG_SENDING_TIME, datetime.now(timezone.utc).strftime("%Y%m%d-%H:%M:%S.%f"))


def to_message(report: Report, *, poss_resend: bool = False) -> fix.Message:
    """The QuickFIX message of ``report``; the session fills BeginString, CompIDs, MsgSeqNum and SendingTime."""
    m = fix.Message()
    header = m.getHeader()
    header.setField(fix.MsgType(report.msg_type))
    if poss_resend:
        header.setField(fix.PossResend(True))
    for tag, value in report.fields:
        m.setField(tag, value)
    for count_tag, entries in report.groups:
        for entry in entries:
            g = fix.Group(count_tag, entry[0][0])
            for tag, value in entry:
                g.setField(tag, value)
            m.addGroup(g)
    return m
