"""Market reads: closes, price frames and marks at market time."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import OuterRef, Subquery

from desk.clock import NEW_YORK
from market_app.marks import mark
from market_app.models import Instrument, PriceBar


def latest_closes(instrument_ids, as_of: date | None = None) -> dict[int, Decimal]:
    """The last close on or before ``as_of`` per instrument: one query.

    A correlated subquery on the (instrument, date) unique index; aggregating the max
    date and joining it back is refused by SQLite ("HAVING clause on a non-aggregate query").
    """
    last = PriceBar.objects.filter(instrument_id=OuterRef("instrument_id"))
    if as_of is not None:
        last = last.filter(date__lte=as_of)
    last = last.order_by("-date").values("date")[:1]
    rows = PriceBar.objects.filter(instrument_id__in=list(instrument_ids), date=Subquery(last)).order_by()
    return dict(rows.values_list("instrument_id", "close"))


def price_frame(instrument_ids, *, before: date, since: date | None = None):
    """Closes known before ``before`` (dates x symbols, float), one query, read as columns.

    The optimiser sees only closes strictly before the market date: today's close is not
    known until the session ends, and a live proposal must not look ahead.
    """
    import pandas as pd

    bars = PriceBar.objects.filter(instrument_id__in=list(instrument_ids), date__lt=before)
    if since is not None:
        bars = bars.filter(date__gte=since)
    rows = list(bars.values_list("date", "instrument__symbol", "close"))
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows, columns=["date", "symbol", "close"])
    frame["close"] = frame["close"].astype(float)
    wide = frame.pivot(index="date", columns="symbol", values="close").sort_index()
    wide.index = pd.DatetimeIndex(wide.index)
    return wide


def marks_at(symbols, market_now) -> dict[str, Decimal]:
    """The mark of each symbol at market time ``market_now`` (DESIGN.md, "Intraday prices").

    The replayed intraday path, else the last close on or before the market date;
    symbols with neither are left out.
    """
    symbols = list(symbols)
    out: dict[str, Decimal] = {}
    for s in symbols:
        try:
            out[s] = mark(s, market_now)
        except LookupError:
            continue
    missing = [s for s in symbols if s not in out]
    if missing:
        market_date = market_now.astimezone(NEW_YORK).date()
        ids = dict(Instrument.objects.filter(symbol__in=missing).values_list("id", "symbol"))
        for iid, close in latest_closes(ids, market_date).items():
            out[ids[iid]] = close
    return out
