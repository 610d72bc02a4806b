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


def _status(cl, over=None):
    return {35: "8", 584: "M1", 11: cl, 55: "KO", 54: "1", 14: "40", 151: "60", 39: "1", 150: "I", 911: "2", 912: "N", **(over or {})}


def test_collection_when_the_answers_arrive_then_each_part_completes_on_its_last_report():
    from fix_app.reconcile_core import Collection

    c = Collection(mass_req_id="M1", pos_req_id="P1")
    assert c.add(_status("C1")) == ""
    assert c.add(_status("C1")) == ""  # a repeat (PossDup) is not a second order
    assert c.add({**_status("C9"), 584: "OLD"}) == "other"  # a late answer to an earlier run
    assert c.add(_status("C2", {39: "0", 14: "0", 151: "100", 912: "Y"})) == "orders"
    assert c.add({35: "AO", 710: "P1", 727: "2", 728: "0"}) == ""
    assert c.add({35: "AP", 710: "P1", 55: "KO", 704: "100", 705: "0"}) == ""
    assert c.add({35: "AP", 710: "P1", 55: "PEP", 704: "0", 705: "30"}) == "positions"
    assert c.done and c.positions == {"KO": D(100), "PEP": D(-30)}
    assert [(o.cl_ord_id, o.side, o.cum_qty, o.leaves_qty, o.open) for o in c.orders] == [
        ("C1", "BUY", D(40), D(60), True), ("C2", "BUY", D(0), D(100), True)]


def test_collection_when_nothing_is_open_or_held_then_complete_at_once_and_nonsense_is_refused():
    import pytest

    from fix_app.mapping import BadMessage
    from fix_app.reconcile_core import Collection, is_answer

    c = Collection(mass_req_id="M1", pos_req_id="P1")
    assert c.add({35: "8", 584: "M1", 11: "NONE", 39: "8", 150: "I", 911: "0", 912: "Y"}) == "orders"
    assert c.add({35: "AO", 710: "P1", 727: "0", 728: "2"}) == "positions" and c.done and not c.orders
    assert is_answer({35: "8", 584: "M1"}) and is_answer({35: "AP"}) and not is_answer({35: "8", 790: "S1", 150: "I"})
    with pytest.raises(BadMessage):
        Collection(mass_req_id="M1", pos_req_id="P1").add(_status("C1", {14: "-5"}))
