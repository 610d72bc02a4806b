"""Order services end to end on the real database, tasks run in-process in enqueue order:
submit -> route -> children -> fills -> positions and cash; redelivery, the sweeper, cancel, amend."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.orders.conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)


def _place(book, symbol="AAPL", qty=500, **kw):
    from orders_app.services import order_place

    portfolio, trader, _ = book
    return order_place(user=trader, portfolio_id=portfolio.pk, symbol=symbol, side=kw.pop("side", "BUY"), quantity=Decimal(qty), **kw)


def _run(book, enqueued, seconds=1):
    drain(enqueued)
    book[2].step(seconds)
    return drain(enqueued)


def test_order_place_when_immediate_then_filled_and_position_and_cash_match_fills_to_the_cent(book, enqueued):
    from desk.money import cash
    from orders_app.models import Fill, RoutingDecision
    from portfolio_app.models import Position

    portfolio, _, _ = book
    cash_before = portfolio.cash
    order = _place(book, "AAPL", 500)
    _place(book, "KO", 1200)
    _run(book, enqueued)

    order.refresh_from_db()
    assert order.status == "FILLED" and order.filled_qty == 500
    assert RoutingDecision.objects.filter(parent=order).count() == 1
    fills = list(Fill.objects.filter(order__portfolio=portfolio))
    assert fills and all(f.order.parent_id for f in fills)
    for symbol in ("AAPL", "KO"):
        pos = Position.objects.get(portfolio=portfolio, instrument__symbol=symbol)
        assert pos.quantity == sum(f.last_qty for f in fills if f.order.instrument.symbol == symbol)
    spent = sum(cash(f.last_qty * f.last_px) + f.commission for f in fills)
    portfolio.refresh_from_db()
    assert portfolio.cash == cash_before - spent


def test_order_submit_when_limits_refuse_then_denied_with_readable_reasons_and_nothing_enqueued(book, enqueued):
    order = _place(book, "MSFT", 20_000)
    assert order.status == "DENIED"
    assert "exceeds" in order.reason and "Max order notional" in order.reason
    assert enqueued == []


def test_order_route_when_delivered_twice_then_one_set_of_children_and_fills(book, enqueued):
    from orders_app.models import Fill, Order
    from orders_app.working import order_route

    order = _place(book, "AAPL", 500)
    order_route(parent_id=order.pk)
    assert order_route(parent_id=order.pk) == []  # the redelivery finds it routed
    _run(book, enqueued)
    n_children = Order.objects.filter(parent=order).count()
    n_fills = Fill.objects.filter(order__parent=order).count()
    order_route(parent_id=order.pk)
    assert Order.objects.filter(parent=order).count() == n_children
    assert Fill.objects.filter(order__parent=order).count() == n_fills


def test_child_execute_when_delivered_twice_then_no_second_fill(book, enqueued):
    from orders_app.models import Fill, Order
    from orders_app.working import child_work

    order = _place(book, "AAPL", 500)
    _run(book, enqueued)
    child = Order.objects.filter(parent=order).first()
    fills = set(Fill.objects.values_list("trade_id", flat=True))
    # The same message again (same work token), and a token-less replay from scratch.
    assert child_work(child_id=child.pk, seq=child.work_seq - 1) in ("terminal", "superseded")
    assert child_work(child_id=child.pk) == "terminal"
    assert set(Fill.objects.values_list("trade_id", flat=True)) == fills


def test_fills_when_replayed_for_a_working_child_then_recorded_once(book, enqueued):
    from orders_app.models import Order
    from orders_app.working import _apply_reports, _replay

    order = _place(book, "AAPL", 500)
    _run(book, enqueued)
    child = Order.objects.filter(parent=order).select_related("instrument", "venue").first()
    _, reports, _ = _replay(child, book[2].market_now())
    assert reports and _apply_reports(child, reports) == 0


def test_orders_sweep_when_child_task_lost_then_requeued_and_filled_exactly_once(book, enqueued, settings):
    from orders_app.models import Fill, Order
    from orders_app.working import child_work, orders_sweep

    order = _place(book, "AAPL", 500)
    enqueued.clear()  # the routing task was lost ...
    assert orders_sweep(grace_seconds=3600)["parents"] == 0  # ... but not for long enough
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert orders_sweep(grace_seconds=60)["parents"] == 1
    drain(enqueued)
    children = list(Order.objects.filter(parent=order))
    assert children
    lost = [(c.pk, c.work_seq) for c in Order.objects.filter(parent=order)]
    enqueued.clear()  # ... and then every child's task was lost
    book[2].step(1)
    Order.objects.filter(parent=order).update(wake_at=timezone.now() - timedelta(minutes=5))
    assert orders_sweep(grace_seconds=60)["children"] == len(children)
    drain(enqueued)
    order.refresh_from_db()
    assert order.status == "FILLED"
    n = Fill.objects.filter(order__parent=order).count()
    for cid, seq in lost:  # the lost messages turn up after all
        assert child_work(child_id=cid, seq=seq) in ("terminal", "superseded")
    assert Fill.objects.filter(order__parent=order).count() == n
    assert orders_sweep(grace_seconds=0) == {"children": 0, "parents": 0}


def test_orders_sweep_when_twap_slices_wait_for_their_time_then_left_alone(book, enqueued):
    from orders_app.models import Order
    from orders_app.working import orders_sweep

    with _replay_clock():
        order = _place(book, "KO", 1200, algo="TWAP", algo_params={"slices": 6})
        drain(enqueued)
        waiting = Order.objects.filter(parent=order, status="INITIALIZED", wake_at__gt=timezone.now() + timedelta(seconds=5))
        assert waiting.count() >= 4
        enqueued.clear()
        swept = orders_sweep(grace_seconds=0)["children"]
        assert swept <= Order.objects.filter(parent=order).count() - waiting.count()


class _replay_clock:
    """A replay clock half an hour into the 2022-03-01 session, one session per 600 wall s."""

    def __enter__(self):
        from desk.clock import ReplayClock
        from market_app.clock import get_clock, set_clock

        self.previous = get_clock()
        epoch = timezone.now() - timedelta(seconds=600 * 30 / 390)
        set_clock(ReplayClock("2022-03-01", 600, epoch))

    def __exit__(self, *exc):
        from market_app.clock import set_clock

        set_clock(self.previous)


def test_order_cancel_when_twap_working_then_open_children_and_parent_cancelled(book, enqueued):
    from orders_app.models import Order
    from orders_app.services import order_cancel

    portfolio, trader, _ = book
    order = _place(book, "KO", 1200, algo="TWAP", algo_params={"slices": 4})
    _run(book, enqueued)
    order = order_cancel(order_id=order.pk, actor=trader)
    assert order.status == "CANCELED"
    statuses = set(Order.objects.filter(parent=order).values_list("status", flat=True))
    assert statuses <= {"FILLED", "CANCELED"} and "CANCELED" in statuses
    assert order.filled_qty == sum(c.filled_qty for c in Order.objects.filter(parent=order))


def test_order_amend_when_quantity_reduced_then_latest_unsent_slices_shrink(book, enqueued):
    from orders_app.models import Order
    from orders_app.services import order_amend

    portfolio, trader, _ = book
    order = _place(book, "KO", 1200, algo="TWAP", algo_params={"slices": 4})
    _run(book, enqueued)
    order = order_amend(order_id=order.pk, actor=trader, quantity=Decimal(700))
    assert order.quantity == 700 and order.status in ("ACCEPTED", "PARTIALLY_FILLED")
    children = list(Order.objects.filter(parent=order))
    still_to_fill = sum(c.quantity - c.filled_qty for c in children if c.status not in ("CANCELED", "FILLED"))
    assert sum(c.filled_qty for c in children) + still_to_fill == 700


def test_order_amend_when_below_filled_then_refused_naming_quantity(book, enqueued):
    from orders_app.services import OrderValidationError, order_amend

    order = _place(book, "AAPL", 500, algo="TWAP", algo_params={"slices": 2})
    _run(book, enqueued)
    order.refresh_from_db()
    with pytest.raises(OrderValidationError) as err:
        order_amend(order_id=order.pk, actor=book[1], quantity=order.filled_qty)
    assert "quantity" in err.value.errors


def test_proposal_when_all_its_orders_terminal_then_completed_with_filled_share(book, enqueued):
    from orders_app.services import order_create, order_submit
    from market_app.models import Instrument
    from portfolio_app.models import RebalanceProposal
    from portfolio_app.services import proposal_transition

    portfolio, trader, _ = book
    p = RebalanceProposal.objects.create(portfolio=portfolio)
    for to in ("PENDING_APPROVAL", "APPROVED"):
        proposal_transition(proposal_id=p.pk, to=to, actor=trader)
    for i, sym in enumerate(("AAPL", "KO")):
        o, _ = order_create(client_order_id=f"P{p.pk}-{sym}", portfolio_id=portfolio.pk, proposal_id=p.pk,
                            instrument_id=Instrument.objects.get(symbol=sym).pk, side="BUY", quantity=Decimal(300 + i))
        order_submit(order_id=o.pk, actor=trader)
    _run(book, enqueued)
    p.refresh_from_db()
    assert p.status == "COMPLETED" and p.filled_share == Decimal("1.000000")


def test_order_commands_when_an_admin_acts_then_forbidden_in_the_service_and_nothing_changes(db):
    from desk.errors import Forbidden
    from market_app.models import Instrument
    from ops_app.accounts import desk_user_create
    from orders_app.models import Order
    from orders_app.services import order_create
    from orders_app.submission import order_amend, order_cancel, orders_cancel_all
    from portfolio_app.models import Portfolio

    admin, _, _ = desk_user_create(username="adm", role="Admin", password="x" * 12)
    risk, _, _ = desk_user_create(username="ro", role="Risk officer", password="x" * 12)
    pf = Portfolio.objects.create(name="Guarded", cash=1_000_000)
    instrument = Instrument.objects.create(symbol="ZZZ", name="Z")
    order, _ = order_create(client_order_id="adm-1", portfolio_id=pf.pk, instrument_id=instrument.pk, side="BUY", quantity=10)
    for command in (lambda: order_cancel(order_id=order.pk, actor=admin), lambda: orders_cancel_all(portfolio_id=pf.pk, actor=admin),
                    lambda: order_amend(order_id=order.pk, actor=admin, quantity=20)):
        with pytest.raises(Forbidden):
            command()
    assert Order.objects.get(pk=order.pk).status == "INITIALIZED"
    assert order_cancel(order_id=order.pk, actor=risk).status == "CANCELED"  # a risk officer may stop any order


def test_order_amend_when_quantity_changed_then_its_event_records_old_and_new_and_who(book, enqueued, api_for):
    from orders_app.models import OrderEvent
    from orders_app.services import order_amend

    portfolio, trader, _ = book
    order = _place(book, "KO", 1200, algo="TWAP", algo_params={"slices": 4})
    _run(book, enqueued)
    order_amend(order_id=order.pk, actor=trader, quantity=Decimal(700))
    updated = OrderEvent.objects.get(order=order, event="UPDATED")
    assert updated.changes == {"quantity": {"old": "1200", "new": "700"}} and updated.actor == trader
    detail = api_for(trader).get(f"/api/v1/orders/{order.pk}/").json()
    assert {"quantity": {"old": "1200", "new": "700"}} in [e["changes"] for e in detail["events"]]


def test_order_amend_when_it_would_breach_a_limit_then_denied_with_the_reasons_and_the_order_unchanged(book, enqueued, api_for):
    from orders_app.models import Order, OrderEvent
    from risk_app import checks as K
    from risk_app import services as risk

    portfolio, trader, _ = book
    order = _place(book, "AAPL", 500, algo="TWAP", algo_params={"slices": 4})
    _run(book, enqueued)
    from ops_app.accounts import desk_user_create

    officer, _, _ = desk_user_create(username="ro-amend", role="Risk officer", password="x" * 12)
    risk.limit_create(actor=officer, reason="test", name="Max order qty", scope="desk", scope_key="", kind=K.MAX_ORDER_QTY,
                      threshold="2000", action="block", params={})
    order.refresh_from_db()
    before = (order.quantity, order.status)
    r = api_for(trader).post(f"/api/v1/orders/{order.pk}/amend/", {"quantity": "50000"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "denied" and "Max order qty" in r.json()["message"], r.json()
    order.refresh_from_db()
    assert (order.quantity, order.status) == before
    assert OrderEvent.objects.filter(order=order, event="MODIFY_REJECTED", reason__contains="amend denied").exists()
    assert sum(c.quantity for c in Order.objects.filter(parent=order)) == 500  # no slice grew
    assert api_for(trader).post(f"/api/v1/orders/{order.pk}/amend/", {"quantity": "1000"}, format="json").status_code == 200
