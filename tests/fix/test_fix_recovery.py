"""The gateway killed and restarted, and its sessions: reloaded on an edit, alerted when down, reset by an admin."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tests.fix.gateway_harness import fix_desk, gateway_env, place, replay_clock, wait_for, work  # noqa: F401
from tests.orders.conftest import enqueued  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

SYMBOLS = ("KO", "PEP", "PG", "JNJ", "WMT", "MRK", "XOM", "CVX", "MCD", "VZ")


@pytest.fixture
def gateway_env():  # noqa: F811
    return {"DESK_FIX_SESSION_DOWN_ALERT_S": "1"}


def test_gateway_when_killed_with_orders_in_flight_then_restarted_loses_and_doubles_nothing(fix_desk):
    from fix_app.models import FixCommand
    from market_app.models import Instrument
    from orders_app.models import Fill, Order
    from portfolio_app.models import Portfolio, Position

    stub = fix_desk.stub
    stub.fills, stub.fill_delay_s = (Decimal("0.5"), Decimal("0.5")), 0.3
    book = Portfolio.objects.create(name="fix-recovery", cash=Decimal("1000000000.00"))
    book.traders.add(fix_desk.trader)
    symbols = [s for s in SYMBOLS if Instrument.objects.filter(symbol=s).exists()]
    n = 100
    parents = []
    for i in range(n):
        parents.append(place(book, fix_desk.trader, symbols[i % len(symbols)], 100 + i))
        if i % 10 == 9:
            work(fix_desk.enqueued)
        if i == n // 2:
            work(fix_desk.enqueued)
            # Killed once the venue has the last order (its fills still to come): whatever the gateway's speed,
            # the venue fills while it is dead, and the restarted gateway finds the gap.
            last = Order.objects.get(parent=parents[-1])
            wait_for(lambda: last.client_order_id in stub.orders, what="the venue has the last order", every=0.01)
            fix_desk.gateway.kill9()  # orders in the outbox, on the wire, acknowledged, half filled
    work(fix_desk.enqueued)
    time.sleep(1.0)  # the venue goes on filling while the gateway is dead
    fix_desk.gateway.start()

    wait_for(lambda: Order.objects.filter(pk__in=[p.pk for p in parents], status="FILLED").count() == n, 90,
             what="every order filled after the restart")
    fills = Fill.objects.filter(order__portfolio=book)
    venue_fills = stub.fill_ids()
    assert fills.count() == len(venue_fills) == 2 * n  # 0 lost, 0 doubled
    assert set(fills.values_list("trade_id", flat=True)) == {f"FIXS:{e}" for e in venue_fills}
    assert len({id(o) for o in stub.orders.values()}) == n  # a re-sent order (PossResend) is not a second order
    assert stub.messages("2"), "the restarted gateway should have asked for the reports it missed (ResendRequest)"
    for sym in symbols:
        want = sum(100 + i for i in range(n) if symbols[i % len(symbols)] == sym)
        assert Position.objects.get(portfolio=book, instrument__symbol=sym).quantity == want
    assert not FixCommand.objects.filter(state__in=["pending", "sent"], kind="new").exists()


def test_sessions_when_edited_then_reloaded_when_down_then_alerted_and_a_reset_is_audited(fix_desk):
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from desk.errors import Forbidden
    from fix_app.models import FixSequenceReset, FixSession
    from fix_app.services import fix_sequence_reset, fix_sessions_reload
    from orders_app.models import Venue
    from risk_app.models import Alert

    session = wait_for(lambda: FixSession.objects.filter(venue=fix_desk.venue, logged_on=True, next_sender_seq__gt=1).first(),
                       what="the session's state")
    loaded = session.loaded_at

    with transaction.atomic():
        Venue.objects.filter(pk=fix_desk.venue.pk).update(fix_heartbeat_s=2)
        fix_sessions_reload()
    wait_for(lambda: FixSession.objects.get(pk=session.pk).loaded_at > loaded, what="the sessions reloaded")
    fix_desk.stub.wait_logon(20, count=2)

    fix_desk.stub.stop()
    key = f"fix:session:{fix_desk.venue.code}"
    alert = wait_for(lambda: Alert.objects.filter(key=key, status="active").first(), 15, what="the session-down alert")
    assert FixSession.objects.get(pk=session.pk).down_since is not None and "down since" in alert.message
    fix_desk.stub = fix_desk.stub.restarted()
    wait_for(lambda: Alert.objects.get(pk=alert.pk).status == "resolved", 30, what="the alert resolved on logon")
    assert FixSession.objects.get(pk=session.pk).logged_on

    users = get_user_model().objects
    with pytest.raises(Forbidden):
        fix_sequence_reset(venue=fix_desk.venue, actor=users.get(username="trader"), reason="not mine to do")
    reset = fix_sequence_reset(venue=fix_desk.venue, actor=users.get(username="admin"), reason="the venue cleared its store")
    applied = wait_for(lambda: FixSequenceReset.objects.filter(pk=reset.pk, applied_at__isnull=False).first(), what="the reset applied")
    assert applied.before["sender"] > 1 and applied.actor.username == "admin"

    fix_desk.gateway.stop()  # graceful: logs out, records the session down
    assert fix_desk.gateway.proc.returncode == 0
    assert not FixSession.objects.get(pk=session.pk).logged_on
