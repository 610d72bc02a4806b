"""The desk books: desk-scope limits measured desk-wide, serialised so that orders of different
portfolios cannot jointly breach them.

**What is kept.**  One ``DeskExposure`` row per *desk book*: the set of portfolios that one or more
enabled desk-scope gross, net, daily-loss or order-rate limits measure together (``"*"``: every
portfolio, the usual case; ``"3,12"``: a limit whose ``params.portfolios`` names those; a long list by its digest).  A book holds
gross and net notional (positions at the mark plus open orders' unfilled rest as if filled: the
per-portfolio snapshot's convention), NAV, today's P&L, and the times of the orders admitted in its
longest rate window.  One ``DeskExposurePart`` per portfolio holds its share as last counted.
Invariant: a book's totals are the sum of its portfolios' parts (a portfolio without a part counts 0);
every writer keeps it under the book's row lock.

**The gate** (``desk_gate_open`` / ``DeskGate.close``, called by ``pre_trade_check`` with the
portfolio row lock held):

1. The desk-wide limits that concern the portfolio (``engine.desk_wide_for``).  None: nothing here,
   the portfolio is not serialised desk-wide.
2. When the check decides stored orders and a limit of a kind orders move (gross, net, order rate)
   concerns the portfolio: ``select_for_update`` of its desk rows, in key order.  Otherwise (a
   what-if, or a daily-loss limit alone: orders do not move P&L) plain reads.
3. The check reads, per book, the rest of the desk (row minus this portfolio's part) plus this
   portfolio's own figures, fresh from the snapshot it has already loaded (``checks/desk.py``).
4. ``close``: with the rows locked, each row becomes rest + the portfolio after the orders that
   passed, the part becomes the latter, and admitted new orders' times are appended (pruned to the
   window).  Two or three UPDATEs whatever the size of the desk's book: the critical section is O(1),
   nothing in it is recomputed from the book.  The row lock is held until the order's transaction
   commits, so the order insert and the desk change commit together.

**Locks**, always in this order, so no two writers deadlock: portfolio rows (by id) -> desk rows
(by key).  A gate, a release and the refresh of one portfolio hold one portfolio row; building a
missing book locks its portfolios in id order first.  Nothing takes a portfolio row after a desk row.

**Releases.**  An order's unfilled rest leaves the book outside the gate when it is cancelled,
expires, is rejected, or is amended down.  orders_app says so after commit through the kernel port
``desk.ports.ExposureListener`` (``DeskBookListener`` here, wired in ``settings.DESK_PORTS``):
``desk_book_remark`` values that portfolio again in its own short transaction (portfolio lock,
snapshot, desk rows, write the difference).  Late is safe: for a moment the desk looks fuller than it
is, never emptier.  Fills need nothing: a fill moves quantity from the order's unfilled rest to the
position, both at the same mark, so gross and net do not change; the P&L and NAV a fill moves (price
against the mark, fees) are picked up at the portfolio's next check or refresh.

**Refresh** (``desk_book_refresh``, Celery beat every ``DESK_BOOK_REFRESH_SECONDS``, outside any
order's critical section): builds the books limits need and drops those none does
(``desk_books_sync``, also run in every limit change's transaction), re-marks each concerned
portfolio (``desk_book_remark``), then re-sums every book from its parts under its lock, a safety net
for anything that moved a book outside the services.  Between refreshes the *other* portfolios'
figures are those of their last check, release or refresh (marks move); the portfolio being checked is
always fresh.  A book a limit needs but that is missing (a new deployment before its first refresh)
fails its limits closed, saying so, and asks for a refresh.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Subquery, Sum
from django.utils import timezone

from desk import tasks as desk_tasks
from desk.compiled import CompiledQuery, fields_of
from desk.interfaces import OrderIntent, OrderStatus, RiskVerdict
from desk.ports import ExposureListener
from risk_app import checks as K
from risk_app.checks import Book, DeskFigures, portfolio_after
from risk_app.models import DeskExposure, DeskExposurePart, RiskLimit
from risk_app.snapshots import Loaded, snapshot_load

log = logging.getLogger(__name__)

# Kinds whose figures an order moves: the gate serialises on the desk rows for these.
SERIAL_KINDS = frozenset({K.MAX_GROSS_EXPOSURE, K.MAX_NET_EXPOSURE, K.MAX_ORDER_RATE})
FIGURES = ("gross", "net", "nav", "pnl_today")
CENT = Decimal("0.01")
MAX_ORDER_TIMES = 10_000  # a runaway warn-only rate limit must not grow a row without bound


def _money(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(CENT)


@dataclass(frozen=True)
class Share:
    """One portfolio's figures, in USD: what its part of a desk book should read."""

    gross: float
    net: float
    nav: float
    pnl_today: float

    @classmethod
    def of(cls, bk: Book, gross: float | None = None, net: float | None = None) -> "Share":
        return cls(bk.gross if gross is None else gross, bk.net if net is None else net, bk.nav,
                   float(bk.snapshot.pnl_today))


def _write(rows: Sequence[DeskExposure], part: DeskExposurePart | None, portfolio_id: int, share: Share,
           *, times: Mapping[str, list[float]] | None = None) -> None:
    """Rows (locked by the caller) and the part move to ``share``: row = row - old part + new part."""
    new = {f: _money(getattr(share, f)) for f in FIGURES}
    for row in rows:
        for f in FIGURES:
            setattr(row, f, getattr(row, f) - (getattr(part, f) if part is not None else 0) + new[f])
        fields = [*FIGURES, "updated_at"]
        if times is not None and row.key in times:
            row.order_times = times[row.key]
            fields.append("order_times")
        row.save(update_fields=fields)
    if part is None:
        DeskExposurePart.objects.create(portfolio_id=portfolio_id, **new)
    else:
        DeskExposurePart.objects.filter(pk=part.pk).update(as_of=timezone.now(), **new)


# ---------------------------------------------------------------------------
# The gate


class DeskGate:
    """The desk books one check reads (``context``) and, when it holds their locks, writes (``close``)."""

    def __init__(self, *, engine, portfolio_id: int, loaded: Loaded, limits, rows: dict[str, DeskExposure],
                 part: DeskExposurePart | None, locked: bool, fresh_orders: frozenset[str] = frozenset()):
        self.engine, self.portfolio_id, self.loaded, self.limits = engine, portfolio_id, loaded, limits
        self.rows, self.part, self.locked, self.fresh_orders = rows, part, locked, fresh_orders
        figures = {}
        for key, row in rows.items():
            rest = {f: float(getattr(row, f) - (getattr(part, f) if part is not None else 0)) for f in FIGURES}
            figures[key] = DeskFigures(order_times=tuple(sorted(row.order_times or ())), **rest)
        self.context = dataclasses.replace(loaded.context, desk=figures)

    def close(self, intents: Sequence[OrderIntent], verdicts: Sequence[RiskVerdict], *, now) -> None:
        """With the rows locked: write the portfolio after the orders that passed (and their times) into its books."""
        if not self.locked:
            return
        if any(not v.passed and i.client_order_id not in self.fresh_orders for i, v in zip(intents, verdicts)):
            # A refused amend: the order stays as it was, and so does the book (the snapshot left it out).
            return
        bk = self.engine.book(self.loaded.snapshot, self.context)
        passed = [i for i, v in zip(intents, verdicts) if v.passed]
        share = Share.of(bk, *portfolio_after(bk, passed)) if passed else Share.of(bk)
        windows: dict[str, float] = {}
        for c in self.limits:
            if c.kind == K.MAX_ORDER_RATE and c.desk_key in self.rows:
                windows[c.desk_key] = max(windows.get(c.desk_key, 0.0), c.window_s)
        times = None
        if windows:
            ts = now.timestamp()
            new = sum(1 for i in passed if i.client_order_id in self.fresh_orders)
            times = {}
            for key, w in windows.items():
                kept = [t for t in (self.rows[key].order_times or ()) if t > ts - w]
                times[key] = (kept + [ts] * new)[-MAX_ORDER_TIMES:]
        _write(list(self.rows.values()), self.part, self.portfolio_id, share, times=times)


def desk_gate_open(*, engine, portfolio_id: int, loaded: Loaded, intents: Sequence[OrderIntent], record: bool = True,
                   wall_clock: bool = True, fresh: frozenset[str] | None = None) -> DeskGate | None:
    """The desk books of the desk-wide limits that concern this portfolio, or None when none does.

    Locks their rows (``select_for_update``, in key order; the caller holds the portfolio row) only
    when the check decides stored orders (``record`` and every intent names its order) and a limit of a
    kind orders move concerns the portfolio. ``fresh``: the client order ids of the intents that are new
    orders, when the caller knows them (else read: those still INITIALIZED). The rows and this
    portfolio's part are read in one query.
    """
    limits = engine.desk_wide_for(portfolio_id)
    if not limits:
        return None
    keys = sorted({c.desk_key for c in limits})
    admitting = record and bool(intents) and all(i.client_order_id for i in intents)
    locked = admitting and any(c.kind in SERIAL_KINDS and (wall_clock or not c.wall_clock) for c in limits)
    # Read before the desk lock (both are stable under the portfolio row lock the caller holds): the
    # portfolio's part, and which orders are new (they count in the rate; an amend's order is already
    # in the book, and stays there as it was when the amend is refused).
    if not locked:
        fresh = frozenset()
    elif fresh is None:
        from orders_app.models import Order

        fresh = frozenset(Order.objects.filter(client_order_id__in=[i.client_order_id for i in intents],
                                               status=OrderStatus.INITIALIZED.value).values_list("client_order_id", flat=True))
    # Locked: the desk-wide critical section starts here, ends at commit.
    rows = _desk_rows(len(keys), locked).instances(portfolio_id=portfolio_id, **{f"key{i}": k for i, k in enumerate(keys)})
    found = {r.key: r for r in rows}
    part = None
    if found:
        first = next(iter(found.values()))
        if first.part_id is not None:
            part = DeskExposurePart(pk=first.part_id, portfolio_id=portfolio_id, **{f: getattr(first, f"part_{f}") for f in FIGURES})
    else:
        part = DeskExposurePart.objects.filter(portfolio_id=portfolio_id).first()
    if len(found) < len(keys):
        # Its limits fail closed (no figures) until the books are built: ask for that now.
        desk_tasks.enqueue_on_commit("risk_app.tasks.desk_book_refresh", robust=True)
    return DeskGate(engine=engine, portfolio_id=portfolio_id, loaded=loaded, limits=limits, rows=found, part=part,
                    locked=locked, fresh_orders=fresh)


@functools.cache
def _desk_rows(n_keys: int, locked: bool) -> CompiledQuery:
    """The gate's read of ``n_keys`` desk rows (by key, in key order) with this portfolio's part, compiled once
    per process (``desk.compiled``): parameters ``portfolio_id``, ``key0`` ... ."""

    def build(*, portfolio_id: int, **keys: str):
        own = DeskExposurePart.objects.filter(portfolio_id=portfolio_id)
        rows = DeskExposure.objects.filter(key__in=[keys[f"key{i}"] for i in range(n_keys)]).order_by("key").annotate(
            part_id=Subquery(own.values("pk")[:1]), **{f"part_{f}": Subquery(own.values(f)[:1]) for f in FIGURES})
        if locked:
            rows = rows.select_for_update(of=("self",))
        return rows.values(*fields_of(DeskExposure), "part_id", *(f"part_{f}" for f in FIGURES))

    return CompiledQuery(build, portfolio_id=int, **{f"key{i}": str for i in range(n_keys)})


def desk_context(*, engine, portfolio_id: int, loaded: Loaded):
    """The check context with the desk books read (no locks, nothing written): what-ifs and the risk page."""
    gate = desk_gate_open(engine=engine, portfolio_id=portfolio_id, loaded=loaded, intents=(), record=False)
    return gate.context if gate is not None else loaded.context


# ---------------------------------------------------------------------------
# Building, releasing, refreshing


def desk_books_needed() -> dict[str, frozenset[int] | None]:
    """``{desk key: portfolio ids (None: every portfolio)}`` of the enabled desk-wide limits, read from the rows."""
    out: dict[str, frozenset[int] | None] = {}
    for params in RiskLimit.objects.filter(enabled=True, scope=K.SCOPE_DESK, kind__in=K.DESK_WIDE_KINDS).values_list(
        "params", flat=True
    ):
        named = (params or {}).get("portfolios")
        out[K.desk_key(named)] = None if named is None else frozenset(int(p) for p in named)
    return out


def _keys_of(needed: Mapping[str, frozenset[int] | None], portfolio_id: int) -> list[str]:
    return sorted(k for k, m in needed.items() if m is None or portfolio_id in m)


def _value(portfolio_id: int) -> Share | None:
    """A portfolio's figures now, from its book (the caller holds its row lock); None when it cannot be valued."""
    from market_app.clock import get_clock
    from market_app.marks import MissingMark

    now = timezone.now()
    try:
        loaded = snapshot_load(portfolio_id=portfolio_id, now=now, market_now=get_clock().market_now(), wall_clock=False)
    except MissingMark:
        log.warning("desk book: portfolio %s cannot be valued now; its share stays as last counted", portfolio_id)
        return None
    return Share.of(Book(loaded.snapshot, loaded.context))


def desk_books_sync() -> int:
    """Build the desk books the enabled desk-wide limits need, drop the others; returns how many were built.

    Runs inside every limit change's transaction (``limits_version_bump``) and at each refresh.
    Building locks the books' portfolios in id order (waiting for their orders in flight), values each
    from its book, moves the books those portfolios already belong to by the difference, then creates
    each missing book as the sum of its portfolios' parts.
    """
    from portfolio_app.models import Portfolio

    needed = desk_books_needed()
    with transaction.atomic():
        existing = set(DeskExposure.objects.values_list("key", flat=True))
        unused = existing - needed.keys()
        if unused:
            DeskExposure.objects.filter(key__in=unused).delete()
        missing = sorted(k for k in needed if k not in existing)
        if not missing:
            return 0
        portfolios = Portfolio.objects.select_for_update().order_by("pk")
        if all(needed[k] is not None for k in missing):
            portfolios = portfolios.filter(pk__in=set().union(*(needed[k] for k in missing)))
        ids = list(portfolios.values_list("pk", flat=True))
        present = sorted(k for k in needed if k in existing)
        rows = list(DeskExposure.objects.select_for_update().filter(key__in=present).order_by("key"))
        parts = {p.portfolio_id: p for p in DeskExposurePart.objects.filter(portfolio_id__in=ids)}
        for pid in ids:
            share = _value(pid)
            if share is not None:
                mine = [r for r in rows if needed[r.key] is None or pid in needed[r.key]]
                _write(mine, parts.get(pid), pid, share)
        built = 0
        for key in missing:
            members = needed[key]
            sums = DeskExposurePart.objects.all() if members is None else DeskExposurePart.objects.filter(portfolio_id__in=members)
            totals = sums.aggregate(**{f: Sum(f) for f in FIGURES})
            try:
                with transaction.atomic():
                    DeskExposure.objects.create(key=key, marked_at=timezone.now(),
                                                **{f: totals[f] or Decimal(0) for f in FIGURES})
                built += 1
            except IntegrityError:
                continue  # another refresh built it meanwhile
        return built


def desk_book_remark(*, portfolio_id: int, needed: Mapping[str, frozenset[int] | None] | None = None) -> bool:
    """Value one portfolio again and move its desk books by the difference, in its own transaction.

    Locks the portfolio row, then its desk rows (key order).  A release (an order's unfilled rest
    cancelled, expired, rejected, amended down) and the refresh both come here.  False when no desk
    book concerns the portfolio or it cannot be valued now.
    """
    from portfolio_app.models import Portfolio

    keys = _keys_of(needed if needed is not None else desk_books_needed(), portfolio_id)
    if not keys:
        return False
    with transaction.atomic():
        if not Portfolio.objects.select_for_update().filter(pk=portfolio_id).exists():
            return False
        share = _value(portfolio_id)
        if share is None:
            return False
        rows = list(DeskExposure.objects.select_for_update().filter(key__in=keys).order_by("key"))
        part = DeskExposurePart.objects.filter(portfolio_id=portfolio_id).first()
        _write(rows, part, portfolio_id, share)
    return True


def _resum(key: str, members: frozenset[int] | None) -> None:
    """A book set to the sum of its parts, under its lock (writers change parts only holding it)."""
    with transaction.atomic():
        row = DeskExposure.objects.select_for_update().filter(key=key).first()
        if row is None:
            return
        parts = DeskExposurePart.objects.all() if members is None else DeskExposurePart.objects.filter(portfolio_id__in=members)
        totals = parts.aggregate(**{f: Sum(f) for f in FIGURES})
        drift = {f: (totals[f] or Decimal(0)) for f in FIGURES if (totals[f] or Decimal(0)) != getattr(row, f)}
        if drift:
            log.warning("desk book %s drifted from its parts: %s", key,
                        {f: str(getattr(row, f) - v) for f, v in drift.items()})
            for f, v in drift.items():
                setattr(row, f, v)
        row.marked_at = timezone.now()
        row.save(update_fields=[*FIGURES, "marked_at", "updated_at"])


def desk_book_refresh() -> int:
    """Beat: build missing books, re-mark every concerned portfolio at today's marks, re-sum each book.

    Each portfolio in its own short transaction; no order waits on more than one portfolio's valuation.
    Returns how many portfolios were re-marked.
    """
    from portfolio_app.models import Portfolio

    desk_books_sync()
    needed = desk_books_needed()
    if not needed:
        return 0
    if any(m is None for m in needed.values()):
        ids = list(Portfolio.objects.order_by("pk").values_list("pk", flat=True))
    else:
        ids = sorted(set().union(*needed.values()))
    n = 0
    for pid in ids:
        try:
            n += desk_book_remark(portfolio_id=pid, needed=needed)
        except Exception:  # one portfolio's bad data must not leave the others stale
            log.exception("desk book: re-marking portfolio %s failed", pid)
    for key, members in sorted(needed.items()):
        _resum(key, members)
    return n


class DeskBookListener(ExposureListener):
    """The kernel's ``ExposureListener`` port: orders_app's releases land here (wired in settings.DESK_PORTS)."""

    def released(self, *, portfolio_id: int) -> None:
        desk_book_remark(portfolio_id=portfolio_id)
