"""The desk's market as the venue's book reads it: sessions, the replayed intraday market, the venue's row.

Read on the book thread only (the one thread of the venue that touches the ORM). The clock is the
desk's (``market_app.clock``: the replay anchored in the database), so the venue and every desk
process agree on market time; the market is ``market_app.marks.session_market``, the path the
desk's algos, paper venue and TCA read.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from django.db import close_old_connections

from market_app.clock import get_clock
from market_app.marks import session_at, session_market
from market_app.matching.paper import PaperVenue
from orders_app.venues import paper_venues


def market_now() -> datetime:
    return get_clock().market_now()


class DeskMarket:
    """``book.MarketLoader`` over the desk's database, for the venue whose ``Venue`` row is ``venue_code``."""

    def __init__(self, venue_code: str):
        self.venue_code = venue_code
        self._venue: PaperVenue | None = None

    def session(self, t: datetime):
        return session_at(t)

    def market(self, session, symbols):
        close_old_connections()
        return session_market(session, list(symbols))

    def venue(self) -> PaperVenue:
        """The row's parameters (half spread, fees, minimum fee, latency, impact, displayed share), re-read at
        each session; the venue trades whatever the desk's router thinks of it (enabled, reconciled)."""
        close_old_connections()
        found = next((v for v in paper_venues() if v.code == self.venue_code), None)
        if found is None:
            if self._venue is None:
                raise LookupError(f"no Venue row with code {self.venue_code!r}")
            return self._venue  # the row went away mid-run: keep trading on what it said
        self._venue = replace(found, enabled=True)
        return self._venue
