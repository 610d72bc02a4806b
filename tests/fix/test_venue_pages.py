"""The Venues page: every desk user reads it; admins add and change venues, each change kept with who,
when, before, after and why; a FIX venue's session edit asks the gateway to reload its sessions."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.django_db

FIX_VENUE = {
    "code": "fix-a", "name": "FIX venue A", "kind": "fix", "enabled": "on", "maker_fee_bps": "-0.2", "taker_fee_bps": "0.3",
    "min_fee": "0.35", "half_spread_bps": "1.5", "latency_ms": "2", "impact_k": "0.1", "displayed_share": "0.1",
    "fix_begin_string": "FIX.4.4", "fix_sender_comp_id": "DESK", "fix_target_comp_id": "VENUE", "fix_host": "127.0.0.1",
    "fix_port": "9878", "fix_heartbeat_s": "30", "reason": "onboard venue A",
}


def _client(user):
    from django.test import Client

    c = Client()
    c.force_login(user)
    return c


def test_venues_page_when_admin_adds_a_fix_venue_then_it_is_saved_with_who_and_why_and_traders_read_it(desk_admin, trader):
    from orders_app.models import Venue

    ok = dict(FIX_VENUE, maker_fee_bps="0.2")
    r = _client(desk_admin).post("/venues/new/", ok)
    assert r.status_code == 302, r.content.decode()[:2000]
    v = Venue.objects.get(code="FIX-A")
    assert v.kind == "fix" and v.fix_port == 9878 and v.fix_target_comp_id == "VENUE"
    h = v.history.latest()
    assert h.history_user == desk_admin and h.history_change_reason == "onboard venue A"
    page = _client(trader).get("/venues/").content.decode()
    assert "FIX-A" in page and "DESK → VENUE @ 127.0.0.1:9878" in page and "read-only" in page
    assert 'action="/venues/new/"' not in page


def test_venues_page_when_input_is_bad_then_400_naming_each_field_and_nothing_saved(desk_admin):
    from orders_app.models import Venue

    bad = dict(FIX_VENUE, fix_host="", fix_port="", displayed_share="2", reason="")
    r = _client(desk_admin).post("/venues/new/", bad)
    body = r.content.decode()
    assert r.status_code == 400
    for field in ("fix_host", "fix_port", "displayed_share", "reason", "maker_fee_bps"):
        assert f'data-field="{field}"' in body, field
    assert not Venue.objects.filter(code="FIX-A").exists()


def test_venues_page_when_a_trader_posts_then_403_and_nothing_changes(trader, desk_admin):
    from orders_app.models import Venue

    assert _client(trader).post("/venues/new/", dict(FIX_VENUE, maker_fee_bps="0")).status_code == 403
    assert not Venue.objects.filter(code="FIX-A").exists()


def test_venue_when_its_fix_session_settings_change_then_the_gateway_is_asked_to_reload(desk_admin, django_capture_on_commit_callbacks):
    from desk.redis import get_redis
    from fix_app.services import WAKE_CHANNEL
    from orders_app.models import Venue

    _client(desk_admin).post("/venues/new/", dict(FIX_VENUE, maker_fee_bps="0"))
    v = Venue.objects.get(code="FIX-A")
    sub = get_redis().pubsub()
    sub.subscribe(WAKE_CHANNEL)
    sub.get_message(timeout=1)  # the subscribe confirmation
    with django_capture_on_commit_callbacks(execute=True):
        r = _client(desk_admin).post(f"/venues/{v.pk}/", dict(FIX_VENUE, maker_fee_bps="0", fix_port="9999", reason="new port"))
    assert r.status_code == 302
    deadline, msg = time.monotonic() + 5, None
    while msg is None and time.monotonic() < deadline:
        msg = sub.get_message(timeout=0.5)
    assert msg and json.loads(msg["data"]) == {"kind": "reload"}
    changes = v.history.latest().diff_against(v.history.order_by("history_date")[0]).changes
    assert [(c.field, c.old, c.new) for c in changes if c.field == "fix_port"] == [("fix_port", 9878, 9999)]


def _field_value(page: str, form_id: str, name: str) -> str:
    import re

    form = page.split(f'id="{form_id}"', 1)[1].split("</form>", 1)[0]
    return re.search(rf'name="{name}" value="([^"]*)"', form).group(1)


def test_venues_page_when_adding_then_the_form_starts_from_the_venue_defaults_and_a_400_keeps_what_was_typed(desk_admin):
    from orders_app.models import Venue

    page = _client(desk_admin).get("/venues/").content.decode()
    blank = Venue()
    for name in ("maker_fee_bps", "min_fee", "half_spread_bps", "latency_ms", "impact_k", "displayed_share", "fix_heartbeat_s"):
        assert _field_value(page, "venue-new", name) != "", name
        assert float(_field_value(page, "venue-new", name)) == float(getattr(blank, name)), name
    submitted = {k: _field_value(page, "venue-new", k) for k in ("maker_fee_bps", "min_fee", "half_spread_bps", "latency_ms",
                                                                 "impact_k", "displayed_share", "fix_heartbeat_s", "fix_begin_string")}
    ok = _client(desk_admin).post("/venues/new/", {**submitted, "code": "lit-c", "name": "Lit C", "kind": "paper", "enabled": "on",
                                                   "taker_fee_bps": "0.25", "reason": "a third lit venue"})
    assert ok.status_code == 302 and Venue.objects.get(code="LIT-C").latency_ms == blank.latency_ms

    bad = _client(desk_admin).post("/venues/new/", {**submitted, "code": "lit-d", "name": "Lit D", "kind": "paper",
                                                    "taker_fee_bps": "-1", "reason": "a fourth"})
    body = bad.content.decode()
    assert bad.status_code == 400 and 'data-field="taker_fee_bps"' in body
    assert _field_value(body, "venue-new", "code") == "lit-d" and _field_value(body, "venue-new", "taker_fee_bps") == "-1"
    assert not Venue.objects.filter(code="LIT-D").exists()
