"""The audit list: every change admins make to users, portfolios, instruments and venues, newest first, with
who, when, before -> after and why."""

from __future__ import annotations

import pytest

from desk import roles

pytestmark = pytest.mark.django_db


def test_audit_page_when_admins_change_a_user_a_portfolio_and_an_instrument_then_each_is_listed_with_before_and_after(desk_admin, portfolio, trader):
    from django.test import Client

    from market_app.models import Instrument

    ko = Instrument.objects.create(symbol="KO", name="Coca-Cola")
    c = Client()
    c.force_login(desk_admin)
    assert c.post(f"/manage/instruments/{ko.pk}/", {"name": "Coca-Cola", "lot_size": "100", "tick_size": "0.01", "adv": "0",
                                                    "tradable": "on", "restricted": "on", "reason": "on the watch list"}).status_code == 302
    assert c.post(f"/manage/users/{trader.pk}/deactivate/", {"reason": "left the firm"}).status_code == 302
    page = c.get("/manage/audit/").content.decode()
    assert page.index("left the firm") < page.index("on the watch list")  # newest first
    for text in ('data-object="KO"', '<span class="fname">restricted</span>: <span class="old">no</span> → <span class="new">yes</span>',
                 '<span class="fname">active</span>: <span class="old">yes</span> → <span class="new">no</span>',
                 f'<td class="who">{desk_admin.username}</td>'):
        assert text in page, text
    only = c.get("/manage/audit/?kind=instrument").content.decode()
    assert "on the watch list" in only and "left the firm" not in only


def test_audit_entries_when_many_changes_then_each_diffs_against_its_own_previous_row(desk_admin):
    from market_app.models import Instrument
    from ops_app.manage import services
    from ops_app.manage.selectors import audit_entries

    ko = Instrument.objects.create(symbol="KO", lot_size=1)
    base = {"name": "", "sector": "", "tick_size": "0.01", "adv": "0", "tradable": "on"}
    for lot in ("10", "20", "30"):
        services.instrument_update(actor=desk_admin, instrument_id=ko.pk, data={**base, "lot_size": lot, "reason": f"to {lot}"})
    entries = audit_entries(kind="instrument", limit=2)
    assert [(e.why, e.changes) for e in entries] == [
        ("to 30", [("lot_size", "20", "30")]), ("to 20", [("lot_size", "10", "20")])]


def test_audit_entries_when_a_user_is_created_then_the_row_lists_what_they_were_given(desk_admin, portfolio):
    from ops_app.manage import services
    from ops_app.manage.selectors import audit_entries

    user, _ = services.user_create(actor=desk_admin, data={"username": "nt", "roles": [roles.TRADER], "password": "Nt-pass-phrase-77",
                                                            "portfolios": [portfolio.pk], "reason": "hired"})
    [entry] = audit_entries(kind="user", object_id=user.pk)
    after = {f: n for f, _, n in entry.changes}
    assert entry.action == "created" and after["username"] == "nt" and after["roles_held"] == roles.TRADER
    assert after["portfolios_held"] == portfolio.name and len(after["token_fingerprint"]) == 12


def test_audit_entries_when_an_instrument_made_in_bulk_is_changed_then_the_change_has_its_before(desk_admin):
    from market_app.models import Instrument
    from ops_app.manage import services
    from ops_app.manage.selectors import audit_entries

    [ko] = Instrument.objects.bulk_create([Instrument(symbol="KO", lot_size=1, adv=5000000)])  # as the demo loads them: no history
    assert not ko.history.exists()
    services.instrument_update(actor=desk_admin, instrument_id=ko.pk, data={
        "name": "", "sector": "", "lot_size": "1", "tick_size": "0.01", "adv": "5000000", "tradable": "on", "restricted": "on",
        "reason": "compliance"})
    newest = audit_entries(kind="instrument", object_id=ko.pk)[0]
    assert (newest.who, newest.why, newest.changes) == (desk_admin.username, "compliance", [("restricted", "no", "yes")])
