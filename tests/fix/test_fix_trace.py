"""The gateway's per-order stage times (``fix_app.trace``, ``DESK_FIX_TRACE``): what the FIX bench splits an
order's way to its ack into. Off unless asked; when asked, every stage of an order, in the order it passes them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.fix.gateway_harness import fix_desk, gateway_env, replay_clock, wait_for, work  # noqa: F401
from tests.orders.conftest import enqueued  # noqa: F401


def test_trace_when_a_stage_is_marked_again_then_the_first_time_stays(tmp_path):
    from fix_app.trace import Trace

    trace = Trace(tmp_path / "t.json")
    trace.mark("A", "sent", 1.0)
    trace.mark("A", "sent", 2.0)  # a re-send
    trace.mark("A", "answered", 3.0)
    trace.dump()

    assert Trace.load(tmp_path / "t.json") == {"A": {"sent": 1.0, "answered": 3.0}}


def test_trace_when_the_environment_names_no_file_then_the_gateway_traces_nothing(monkeypatch):
    from fix_app import trace
    from fix_app.gateway import Gateway

    monkeypatch.delenv(trace.ENV, raising=False)

    assert trace.from_env() is None
    assert Gateway(directory=None).trace is None


@pytest.fixture
def gateway_env(tmp_path):  # noqa: F811
    return {"DESK_FIX_TRACE": str(tmp_path / "trace.json")}


@pytest.mark.django_db(transaction=True)
def test_trace_when_the_gateway_traces_then_an_order_passes_every_stage_in_order(fix_desk, tmp_path):
    from fix_app.trace import STAGES, Trace

    fix_desk.stub.fills = (Decimal(1),)
    parent = fix_desk.place(qty=100)
    child = fix_desk.child(parent)
    fix_desk.wait_status(parent, "FILLED")

    fix_desk.gateway.stop()  # the times are written as it stops
    times = Trace.load(tmp_path / "trace.json")[child.client_order_id]

    assert set(STAGES) - {"wake_heard"} <= set(times)  # (a sweep may have found the order before its wake-up came)
    # The venue may answer before QuickFIX's send has returned to the gateway: "answered" is after the claim.
    for way in (("wake_heard", "drained", "claimed", "sent"), ("claimed", "answered", "taken", "applied", "committed")):
        ordered = [times[s] for s in way if s in times]
        assert ordered == sorted(ordered), times
