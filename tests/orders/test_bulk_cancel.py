"""Cancel all in bulk (``orders_app.bulk_cancel``): a book's working orders cancelled in one transaction, in a
number of statements that does not grow with the orders, with the outcome ``order_cancel`` of each gives -
the same moves and events, the reservations released, the paper venue's book cancelled, the browsers told."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from tests.orders.conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)

SYMBOLS = ("KO", "AAPL", "MSFT")


def _book_of(book, name):
    from portfolio_app.models import Portfolio

    pf = Portfolio.objects.create(name=name, cash=Decimal("50000000.00"))
    pf.traders.add(book[1])
    return pf


def _mark(book, symbol) -> Decimal:
    from market_app.marks import market_state, session_at, session_market

    now = book[2].market_now()
    return market_state(session_market(session_at(now), [symbol]), symbol, now).mark


def _place(book, pf, symbol, qty, **kw):
    from orders_app.submission import order_place

    order = order_place(user=book[1], portfolio_id=pf.pk, symbol=symbol, side="BUY", quantity=Decimal(qty), **kw)
    assert order.status == "SUBMITTED", order.reason
    return order


def _working_book(book, enqueued, pf, n, *, base=10):
    """``n`` resting LIMIT buys (4% under the mark, each one child at a paper venue), a TWAP whose later slices are
    not sent yet (INITIALIZED children), and an order whose child is PARTIALLY_FILLED. Quantities from ``base`` on,
    each its own (the desk refuses the same order twice within seconds)."""
    from desk.interfaces import FillReport, LiquiditySide, Side
    from orders_app.models import Order
    from orders_app.services import fill_apply

    limits = {s: (_mark(book, s) * Decimal("0.96")).quantize(Decimal("0.01")) for s in SYMBOLS}
    parents = [_place(book, pf, SYMBOLS[i % 3], base + i, order_type="LIMIT", limit_price=limits[SYMBOLS[i % 3]])
               for i in range(n)]
    twap = _place(book, pf, "KO", 4 * (base + n), order_type="LIMIT", limit_price=limits["KO"], algo="TWAP",
                  algo_params={"slices": 4})
    partial = _place(book, pf, "AAPL", 100 + base + n, order_type="LIMIT", limit_price=limits["AAPL"])
    drain(enqueued)
    book[2].step(60)
    drain(enqueued)
    child = Order.objects.get(parent=partial)
    fill_apply(order_id=child.pk, report=FillReport(
        trade_id=f"bulk-part-{pf.pk}", client_order_id=child.client_order_id, venue=child.venue.code, symbol="AAPL",
        side=Side.BUY, last_qty=Decimal(40), last_px=limits["AAPL"], commission=Decimal("1.00"),
        liquidity_side=LiquiditySide.MAKER, ts_event=book[2].market_now()))
    parents += [twap, partial]
    statuses = set(Order.objects.filter(parent__in=parents).values_list("status", flat=True))
    assert statuses == {"ACCEPTED", "INITIALIZED", "PARTIALLY_FILLED"}, statuses
    return parents


def _outcome(parent_ids):
    """Every order's end state and its events (ids and times aside), the venue's book, what the book holds."""
    from django.db.models import Q

    from market_app.models import PaperBookOrder
    from orders_app.models import Order

    orders = Order.objects.filter(Q(pk__in=parent_ids) | Q(parent__in=parent_ids)).order_by("id")
    out = {}
    for o in orders:
        events = [(e.event, e.from_status, e.to_status, e.reason, e.actor_id, e.venue_ts) for e in o.events.order_by("id")]
        out[o.client_order_id] = (o.status, o.previous_status, o.reason, o.reserved_cash, o.filled_qty, o.wake_at, events)
    cids = [o.client_order_id for o in orders]
    venue = dict(PaperBookOrder.objects.filter(client_order_id__in=cids).values_list("client_order_id", "status"))
    return out, venue


def _pushes(monkeypatch):
    """What is pushed to the browsers, as sent: (event type, payload) in order."""
    from desk import events

    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(events, "send_now", lambda t, p, g: sent.append((t, dict(p))))
    monkeypatch.setattr(events, "send_many", lambda t, ps, g: sent.extend((t, dict(p)) for p in ps), raising=False)
    return sent


def _last_by_order(sent):
    return {p["id"]: p for t, p in sent if t == "order.updated"}


def _without_symbol(pushes):
    return {k: {f: v for f, v in p.items() if f != "symbol"} for k, p in pushes.items()}


def test_orders_cancel_all_when_a_book_has_working_orders_then_the_outcome_is_order_cancel_s_of_each(
        book, enqueued, monkeypatch, django_capture_on_commit_callbacks):
    from desk import ports
    from orders_app.models import Order
    from orders_app.submission import order_cancel, orders_cancel_all

    from market_app.models import PaperBookOrder
    from orders_app.working import venue_client

    pf = _book_of(book, "bulk same")
    parents = [p.pk for p in _working_book(book, enqueued, pf, 12)]
    # Two the venue refuses: one it already cancelled (the desk has not heard), one it never had.
    gone, unknown = Order.objects.filter(parent__in=parents[:2], status="ACCEPTED").order_by("id")
    venue_client(gone, book[2].market_now())[0].cancel(gone.client_order_id)
    PaperBookOrder.objects.filter(client_order_id=unknown.client_order_id).delete()
    book[2].step(30)
    sent = _pushes(monkeypatch)

    with transaction.atomic():
        before = transaction.savepoint()
        with django_capture_on_commit_callbacks(execute=True):
            for pid in parents:
                order_cancel(order_id=pid, actor=book[1], reason="cancel all")
        one_by_one, one_pushes = _outcome(parents), list(sent)
        transaction.savepoint_rollback(before)
        sent.clear()

        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            done = orders_cancel_all(portfolio_id=pf.pk, actor=book[1], reason="cancel all")
        bulk, bulk_pushes = _outcome(parents), list(sent)
        reserved = ports.reservations().reserved(portfolio_id=pf.pk)
        transaction.set_rollback(True)

    assert done == len(parents)
    assert bulk == one_by_one
    orders, venue = bulk
    assert {o[0] for o in orders.values()} == {"CANCELED"}
    assert set(venue.values()) == {"CANCELED"}
    assert len(venue) == Order.objects.filter(parent__in=parents).exclude(sent_at=None).count() - 1
    assert "refused the cancel: too late to cancel" in orders[gone.client_order_id][-1][-2][3]
    assert orders[unknown.client_order_id][2] == "cancel all (not at LIT-A)".replace("LIT-A", unknown.venue.code)
    assert reserved == 0 and all(o[3] == 0 for o in orders.values())
    # Pushed after commit, one batch: each changed order once, as it ended up, as the last push of one by one says.
    assert bulk_pushes and all(t == "order.updated" for t, _ in bulk_pushes)
    assert len(bulk_pushes) == len(_last_by_order(bulk_pushes)) == len(orders)
    # (One by one, a parent's last push comes from its settle, which reads no instrument: no symbol.)
    assert all(p["symbol"] for _, p in bulk_pushes)
    assert _without_symbol(_last_by_order(bulk_pushes)) == _without_symbol(_last_by_order(one_pushes))
    assert len(callbacks) <= 4  # the pushes, the metrics, the exposure release: not one each per order


def test_orders_cancel_all_when_the_venue_fills_before_it_cancels_then_the_fills_are_booked_as_one_by_one(
        book, enqueued, monkeypatch, django_capture_on_commit_callbacks):
    from orders_app.models import Fill, Order
    from orders_app.submission import order_cancel, orders_cancel_all
    from portfolio_app.models import Portfolio, Position

    pf = _book_of(book, "bulk fills")
    marketable = (_mark(book, "KO") * Decimal("1.02")).quantize(Decimal("0.01"))
    # Far more than a minute's display: it fills a little each minute and rests, PARTIALLY_FILLED.
    big = [_place(book, pf, "KO", 150_000 + i, order_type="LIMIT", limit_price=marketable).pk for i in range(2)]
    parents = big + [p.pk for p in _working_book(book, enqueued, pf, 3)]
    assert set(Order.objects.filter(pk__in=big).values_list("status", flat=True)) == {"PARTIALLY_FILLED"}
    assert "PARTIALLY_FILLED" in set(Order.objects.filter(parent__in=big).values_list("status", flat=True))
    book[2].step(180)  # the venue fills three more minutes before it takes the cancel
    sent = _pushes(monkeypatch)

    def state():
        p = Portfolio.objects.get(pk=pf.pk)
        return (_outcome(parents), p.cash, sorted(Position.objects.filter(portfolio=p).values_list("quantity", "avg_cost")),
                sorted(Fill.objects.filter(order__portfolio=p).values_list("trade_id", "last_qty", "last_px")),
                [p for t, p in sent if t == "fill.created"])

    with transaction.atomic():
        before = transaction.savepoint()
        fills_before = Fill.objects.filter(order__portfolio=pf).count()
        with django_capture_on_commit_callbacks(execute=True):
            for pid in parents:
                order_cancel(order_id=pid, actor=book[1], reason="cancel all")
        one_by_one = state()
        transaction.savepoint_rollback(before)
        sent.clear()
        with django_capture_on_commit_callbacks(execute=True):
            orders_cancel_all(portfolio_id=pf.pk, actor=book[1], reason="cancel all")
        bulk = state()
        transaction.set_rollback(True)

    assert len(bulk[3]) > fills_before  # the venue did fill before the cancel
    assert bulk == one_by_one
    assert {bulk[0][0][o][0] for o in bulk[0][0]} <= {"CANCELED", "FILLED"}


def test_order_cancel_when_the_venue_fills_before_it_cancels_then_the_parent_stays_pending_cancel_and_ends_canceled(
        book, enqueued):
    from orders_app.models import Order
    from orders_app.submission import order_cancel

    pf = _book_of(book, "cancel fills")
    marketable = (_mark(book, "KO") * Decimal("1.02")).quantize(Decimal("0.01"))
    order = _place(book, pf, "KO", 150_000, order_type="LIMIT", limit_price=marketable)
    drain(enqueued)
    book[2].step(60)
    drain(enqueued)
    filled_before = Order.objects.get(pk=order.pk).filled_qty
    book[2].step(180)

    order = order_cancel(order_id=order.pk, actor=book[1])

    # The fills the venue made first are booked while the parent is PENDING_CANCEL (the state machine keeps it
    # there), so the cancel ends it CANCELED - not EXPIRED, as when the fill overwrote the pending status.
    assert order.filled_qty > filled_before
    moves = list(order.events.order_by("id").values_list("event", "from_status", "to_status"))
    cancel_at = [m[0] for m in moves].index("PENDING_CANCEL")
    assert ("FILLED", "PENDING_CANCEL", "PENDING_CANCEL") in moves[cancel_at:]
    assert order.status == "CANCELED" and moves[-1] == ("CANCELED", "PENDING_CANCEL", "CANCELED")


def _cancel_queries(book, enqueued, n, base):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orders_app.models import Order
    from orders_app.submission import orders_cancel_all

    pf = _book_of(book, f"bulk {n}")
    parents = _working_book(book, enqueued, pf, n, base=base)
    with CaptureQueriesContext(connection) as queries:
        done = orders_cancel_all(portfolio_id=pf.pk, actor=book[1], reason="cancel all")
    assert done == len(parents)
    assert set(Order.objects.filter(portfolio=pf).values_list("status", flat=True)) == {"CANCELED"}
    return len(queries)


def test_orders_cancel_all_when_the_book_holds_more_orders_then_it_takes_no_more_statements(book, enqueued):
    few = _cancel_queries(book, enqueued, 5, base=10)
    many = _cancel_queries(book, enqueued, 50, base=1000)

    assert many == few
    assert few <= 25
