"""The reconciliation comparison, pure: what a venue says against what the desk booked."""

from __future__ import annotations

from decimal import Decimal as D

from fix_app.reconcile_core import DeskOrder, VenueFill, VenueOrder, compare


def _desk(cid="C1", status="PARTIALLY_FILLED", filled="100", chain=("C1", "C1-R1")):
    return DeskOrder(cid, frozenset(chain), "AAPL", "BUY", D(filled), status)


def test_compare_when_the_venue_has_a_fill_the_desk_missed_then_it_is_applied_once_by_exec_id_and_positions_agree():
    fills = [VenueFill("E1", "C1", "AAPL", "BUY", D(100), D("150.00")), VenueFill("E2", "C1-R1", "AAPL", "BUY", D(50), D("150.10"))]
    out = compare(desk_orders=[_desk()], desk_exec_ids={"E1"}, desk_positions={"AAPL": D(100)},
                  venue_orders=[VenueOrder("C1-R1", "AAPL", "BUY", D(150), D(50), True)], venue_fills=fills,
                  venue_positions={"AAPL": D(150)})
    assert [(cid, f.exec_id) for cid, f in out.missing_fills] == [("C1", "E2")]
    assert out.clean, out.breaks


def test_compare_when_the_venue_works_an_order_the_desk_does_not_know_then_a_break_not_applied():
    out = compare(desk_orders=[], desk_exec_ids=set(), desk_positions={},
                  venue_orders=[VenueOrder("X9", "MSFT", "SELL", D(0), D(300), True)],
                  venue_fills=[VenueFill("E7", "X9", "MSFT", "SELL", D(10), D("300"))], venue_positions={"MSFT": D(-10)})
    assert not out.missing_fills
    assert {b.kind for b in out.breaks} == {"unknown_order", "unknown_fill", "position"}
    pos = next(b for b in out.breaks if b.kind == "position")
    assert pos.detail == {"symbol": "MSFT", "venue": "-10", "desk": "0", "difference": "-10"}


def test_compare_when_statuses_or_quantities_disagree_then_breaks_name_the_order_and_figures():
    out = compare(desk_orders=[_desk(status="CANCELED"), _desk("C2", "ACCEPTED", "0", ("C2",))], desk_exec_ids={"E1"},
                  desk_positions={"AAPL": D(100)},
                  venue_orders=[VenueOrder("C1", "AAPL", "BUY", D(120), D(10), True)],
                  venue_fills=[VenueFill("E1", "C1", "AAPL", "BUY", D(100), D("150"))], venue_positions=None)
    kinds = sorted((b.kind, b.client_order_id) for b in out.breaks)
    assert kinds == [("quantity", "C1"), ("status", "C1"), ("status", "C2")]
    q = next(b for b in out.breaks if b.kind == "quantity")
    assert q.detail == {"venue_cum_qty": "120", "desk_filled_qty": "100"}
