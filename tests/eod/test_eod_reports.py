"""End-of-day reports on the real database with a traded day: the figures are the blotter's and the
book's, a stored report never changes, a regeneration is a new version, the close's run is idempotent,
retention prunes, the PDF and CSV are the stored content."""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from decimal import Decimal

import pytest

from tests.eod.conftest import SESSION, place, work

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def _generate(portfolio=None, **kw):
    from ops_app.eod.services import eod_report_generate

    return eod_report_generate(session=SESSION, portfolio=portfolio, **kw)


def test_eod_report_when_a_day_is_traded_then_its_figures_equal_the_blotter_and_the_positions(book, traded_day):
    from market_app.clock import get_clock
    from orders_app.models import Fill
    from orders_app.selectors import arrival_slippage_bps, parent_orders
    from portfolio_app.models import Position
    from portfolio_app.reports import portfolio_book

    portfolio, trader, clock = book
    report = _generate(portfolio)
    portfolio.refresh_from_db()
    c = report.content
    close = get_clock().session_close(SESSION)
    assert clock.market_now() == close

    # NAV and positions: the desk's book at the close, to the cent.
    book_now = portfolio_book(portfolio, close)
    assert Decimal(c["summary"]["nav"]) == book_now.nav
    assert Decimal(c["summary"]["cash"]) == book_now.cash
    rows = {r["symbol"]: r for r in c["tables"]["positions"]}
    positions = {p.instrument.symbol: p for p in Position.objects.filter(portfolio=portfolio).exclude(quantity=0).select_related("instrument")}
    assert set(rows) == set(positions) and {"AAPL", "KO"} <= set(rows)
    for symbol, p in positions.items():
        assert Decimal(rows[symbol]["quantity"]) == p.quantity
        assert Decimal(rows[symbol]["avg_cost"]) == p.avg_cost
        assert Decimal(rows[symbol]["realised_pnl"]) == p.realised_pnl
    assert {r.symbol: r.market_value for r in book_now.positions} == {s: Decimal(r["market_value"]) for s, r in rows.items()}

    # Orders: the blotter's rows of the portfolio, figure for figure (the denied one is with the denials).
    blotter = {o.client_order_id: o for o in parent_orders(trader).filter(portfolio=portfolio)}
    orders = {r["client_order_id"]: r for r in c["tables"]["orders"]}
    assert set(orders) == {o.client_order_id for o in traded_day["filled"]}
    for coid, r in orders.items():
        o = blotter[coid]
        assert (Decimal(r["quantity"]), Decimal(r["filled_qty"]), r["status"]) == (o.quantity, o.filled_qty, o.status)
        assert Decimal(r["avg_px"]) == o.avg_px and r["status"] == "FILLED"
        assert float(r["slippage_bps"]) == pytest.approx(arrival_slippage_bps(o), abs=0.005)
    [denied] = c["tables"]["denied"]
    assert denied["client_order_id"] == traded_day["denied"].client_order_id and "Max order notional" in denied["reason"]

    # Fills: every fill of the day, and the totals.
    fills = list(Fill.objects.filter(order__portfolio=portfolio))
    assert {r["trade_id"] for r in c["tables"]["fills"]} == {f.trade_id for f in fills}
    assert c["summary"]["fills"] == str(len(fills))
    assert Decimal(c["summary"]["fees_today"]) == sum(f.commission for f in fills)

    # TCA: by algo and venue, over the same fills.
    assert sum(Decimal(r["filled_qty"]) for r in c["tables"]["tca_venue"]) == sum(f.last_qty for f in fills)
    [algo] = c["tables"]["tca_algo"]
    assert algo["algo"] == "IMMEDIATE" and algo["orders"] == "2" and algo["fill_rate_pct"] == "100.00"

    # Limits: each enabled limit that applies, with its utilisation; the denial's breach is listed.
    assert c["tables"]["limits"] and all(r["portfolio"] == portfolio.name for r in c["tables"]["limits"])
    assert any(r["client_order_id"] == traded_day["denied"].client_order_id and r["passed"] == "no"
               for r in c["tables"]["breaches"])


def test_eod_report_when_trades_follow_the_close_then_stored_hash_unchanged_and_regeneration_is_version_2(book, enqueued, traded_day):
    from django.db import DatabaseError, transaction

    from ops_app.eod import core
    from ops_app.eod.models import EodReport
    from orders_app.models import Fill

    portfolio, _, clock = book
    v1 = _generate(portfolio)
    hash1, content1 = v1.content_hash, v1.content

    clock.step_sessions(1)  # the next session: more trades move the book
    place(book, "AAPL", 300, side="SELL")
    place(book, "JNJ", 200)
    work(book, enqueued)
    assert Fill.objects.filter(order__portfolio=portfolio, ts_event__gt=v1.day.market_close).exists()

    v1.refresh_from_db()
    assert v1.content_hash == hash1 and core.content_hash(v1.content) == hash1 and v1.content == content1
    # ...and the database refuses to change a stored report, whoever asks.
    for change in ({"content_hash": "0" * 64}, {"content": {**content1, "summary": {}}}, {"version": 9}):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            EodReport.objects.filter(pk=v1.pk).update(**change)

    v2 = _generate(portfolio, trigger=EodReport.Trigger.ON_DEMAND)
    assert (v1.version, v2.version) == (1, 2)
    assert EodReport.objects.filter(scope_key=v1.scope_key, session=SESSION).count() == 2
    # The regeneration still reports the day as it closed: the later trades are taken back.
    assert v2.content["tables"]["positions"] == content1["tables"]["positions"]
    assert v2.content["summary"]["nav"] == content1["summary"]["nav"]
    assert v2.content["tables"]["fills"] == content1["tables"]["fills"]
    assert v2.content["tables"]["orders"] == content1["tables"]["orders"]


def test_eod_reports_close_when_run_twice_then_one_report_per_scope_at_version_1(book, traded_day):
    from ops_app.eod.models import EodReport
    from ops_app.eod.services import eod_reports_close
    from portfolio_app.models import Portfolio

    made = eod_reports_close()
    again = eod_reports_close()
    scopes = {"desk", *(f"portfolio:{p}" for p in Portfolio.objects.values_list("pk", flat=True))}
    assert made == len(scopes) and again == 0
    assert set(EodReport.objects.filter(session=SESSION).values_list("scope_key", flat=True)) == scopes
    assert set(EodReport.objects.values_list("version", flat=True)) == {1}
    desk = EodReport.objects.get(scope_key="desk")
    assert desk.content["summary"]["fills"] == EodReport.objects.get(scope_key=f"portfolio:{book[0].pk}").content["summary"]["fills"]


def test_eod_reports_prune_when_more_sessions_than_kept_then_the_oldest_sessions_go(book, settings):
    from ops_app.eod.models import EodReport, EodSession
    from ops_app.eod.services import eod_reports_close

    settings.DESK_EOD_KEEP_SESSIONS = 2
    clock = book[2]
    closed = []
    for _ in range(4):
        clock.to_close()
        eod_reports_close()
        closed.append(clock.last_closed_session())
        clock.step_sessions(1)
    assert len(set(closed)) == 4
    assert sorted(set(EodReport.objects.values_list("session", flat=True))) == closed[-2:]
    assert sorted(EodSession.objects.values_list("session", flat=True)) == closed[-2:]


def test_eod_pdf_when_rendered_then_a_pdf_carrying_the_reports_figures(book, traded_day):
    from ops_app.eod.selectors import report_pdf

    report = _generate(book[0])
    pdf = report_pdf(report)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "eod-report.pdf").write_bytes(pdf)  # to look at
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    text = b"".join(_streams(pdf)).decode("latin-1")
    assert "End-of-day report" in text and book[0].name in text
    assert report.content["summary"]["nav"] in text and report.content_hash in text
    first = report.content["tables"]["positions"][0]
    assert f"({first['symbol']})" in text and f"({first['market_value']})" in text
    assert report_pdf(report) == pdf  # reproducible: the same bytes every time


def test_eod_csv_when_downloaded_then_it_round_trips_to_the_stored_content(book, traded_day, client):
    from ops_app.eod import core

    report = _generate(book[0])
    client.force_login(book[1])
    response = client.get(f"/reports/{report.pk}/csv/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    ident, content = core.from_csv(response.content.decode())
    assert content == report.content
    assert ident["content_hash"] == report.content_hash == core.content_hash(content)
    assert ident["version"] == "1"


def test_eod_api_when_each_role_reads_then_traders_see_their_portfolios_only(book, traded_day, risk_officer, make_user):
    from rest_framework.test import APIClient

    from desk import roles
    from portfolio_app.models import Portfolio

    mine = _generate(book[0])
    other = Portfolio.objects.create(name="Other Book", cash=Decimal("1000.00"))
    theirs = _generate(other)
    desk = _generate(None)
    stranger = make_user("eod-trader2", roles.TRADER)

    def ids(user):
        api = APIClient()
        api.force_authenticate(user)
        return {r["id"] for r in api.get("/api/v1/eod-reports/").json()}, api

    seen, api = ids(book[1])
    assert seen == {mine.pk}
    assert api.get(f"/api/v1/eod-reports/{theirs.pk}/").status_code == 404
    assert api.get(f"/api/v1/eod-reports/{desk.pk}/pdf/").status_code == 404
    assert api.get(f"/api/v1/eod-reports/{mine.pk}/").json()["intact"] is True
    assert ids(risk_officer)[0] == {mine.pk, theirs.pk, desk.pk}
    assert ids(stranger)[0] == set()


def test_eod_api_when_asked_on_demand_then_a_new_version_or_400_naming_the_field(book, traded_day, risk_officer):
    from rest_framework.test import APIClient

    from ops_app.eod.models import EodReport

    trader = APIClient()
    trader.force_authenticate(book[1])
    first = trader.post("/api/v1/eod-reports/", {"portfolio": book[0].pk}, format="json")
    assert first.status_code == 201 and first.json()["version"] == 1 and first.json()["session"] == SESSION.isoformat()
    second = trader.post("/api/v1/eod-reports/", {"portfolio": book[0].pk, "session": "2022-03-01"}, format="json")
    assert second.status_code == 201 and second.json()["version"] == 2

    assert trader.post("/api/v1/eod-reports/", {}, format="json").status_code == 403  # the desk's: risk officers, admins
    for body, field in (({"portfolio": book[0].pk, "session": "2022-03-02"}, "session"),  # not closed yet
                        ({"portfolio": book[0].pk, "session": "2022-03-05"}, "session"),  # a Saturday
                        ({"portfolio": book[0].pk, "session": "yesterday"}, "session"),
                        ({"portfolio": "abc"}, "portfolio")):
        r = trader.post("/api/v1/eod-reports/", body, format="json")
        assert r.status_code == 400, body
        assert [e["field"] for e in r.json()["errors"]] == [field]
    assert EodReport.objects.count() == 2  # nothing half-saved

    risk = APIClient()
    risk.force_authenticate(risk_officer)
    r = risk.post("/api/v1/eod-reports/", {}, format="json")
    assert r.status_code == 201 and r.json()["scope_key"] == "desk"


def _streams(pdf: bytes):
    """The PDF's content streams, inflated (reportlab compresses them with Flate)."""
    import base64

    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        raw = m.group(1).strip()
        if raw.endswith(b"~>"):  # reportlab's default: ASCII85 over Flate
            raw = base64.a85decode(raw[:-2])
        yield zlib.decompress(raw)


def test_eod_api_when_the_body_is_not_an_object_or_the_id_too_large_then_400_and_nothing_written(book, traded_day, risk_officer):
    from rest_framework.test import APIClient

    from ops_app.eod.models import EodReport

    risk = APIClient()
    risk.force_authenticate(risk_officer)
    r = risk.post("/api/v1/eod-reports/", data='"desk"', content_type="application/json")
    assert r.status_code == 400
    r = risk.post("/api/v1/eod-reports/", {"portfolio": "99999999999999999999"}, format="json")
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["portfolio"]
    r = risk.get("/api/v1/eod-reports/?portfolio=99999999999999999999")
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["portfolio"]
    assert risk.get("/api/v1/eod-reports/?session=2022-13-01").status_code == 400
    assert EodReport.objects.count() == 0


def test_eod_report_when_officers_act_in_the_day_then_overrides_limit_changes_and_breaks_are_that_days_only(book, traded_day, risk_officer):
    from fix_app.services import break_record
    from ops_app.eod.services import eod_report_generate
    from orders_app.models import Venue
    from risk_app import services as risk
    from risk_app.models import RiskLimit

    portfolio, _, clock = book
    scope = f"portfolio:{portfolio.pk}"
    risk.trading_state_set(scope=scope, state="REDUCING", actor=risk_officer, reason="eod: volatile close")
    limit = RiskLimit.objects.filter(kind="max_order_qty", scope="desk").first()
    risk.limit_update(limit_id=limit.pk, actor=risk_officer, reason="eod: tighten", threshold=limit.threshold / 2)
    brk = break_record(venue=Venue.objects.order_by("code").first(), kind="position", detail={"why": "eod: venue says 10 more"})

    day1 = _generate(portfolio).content["tables"]
    assert [(r["scope"], r["to_state"], r["actor"], r["reason"]) for r in day1["overrides"]] == [
        (scope, "REDUCING", risk_officer.username, "eod: volatile close")]
    [change] = [r for r in day1["limit_changes"] if r["why"] == "eod: tighten"]
    assert change["limit"] == limit.name and change["who"] == risk_officer.username and "threshold=" in change["after"]
    assert [r["id"] for r in day1["recon_breaks"]] == [str(brk.pk)]

    clock.step_sessions(1)
    clock.to_close()
    day2 = eod_report_generate(session=clock.last_closed_session(), portfolio=portfolio).content["tables"]
    assert day2["overrides"] == [] and not [r for r in day2["limit_changes"] if r["why"] == "eod: tighten"]
    assert [r["id"] for r in day2["recon_breaks"]] == [str(brk.pk)]  # still open at the second close
    assert day2["fills"] == [] and day2["orders"] == []
