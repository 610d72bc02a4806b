"""The day a report covers and how its figures are written (strings only: ``core``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Q

from desk.clock import NEW_YORK

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Day:
    session: date
    market_open: datetime
    market_close: datetime
    wall_start: datetime | None
    wall_end: datetime


def text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        return "" if v != v else f"{v:.2f}"
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)


def money(v: Decimal | None) -> str:
    return "" if v is None else format(Decimal(v).quantize(CENT), "f")


def qty(v: Decimal | None) -> str:
    if v is None:
        return ""
    v = Decimal(v)
    return format(v.quantize(Decimal(1)) if v == v.to_integral_value() else v.normalize(), "f")


def pct(num: Decimal | None, den: Decimal | None) -> str:
    if num is None or not den:
        return ""
    return f"{float(num / den) * 100:.2f}"


def in_window(field: str, day: Day) -> Q:
    q = Q(**{f"{field}__lte": day.wall_end})
    if day.wall_start is not None:
        q &= Q(**{f"{field}__gt": day.wall_start})
    return q


def display_time(iso: str) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(NEW_YORK).strftime("%H:%M:%S")
