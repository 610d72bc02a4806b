"""The demo data: 20 S&P 500 stocks 1990-2022 (skfolio, offline), the index, a portfolio,
three venues and the demo users. Idempotent: running it twice changes nothing.

With ``history`` (``manage.py load_demo`` does it; the test fixtures do not), Core Equity also starts
with a past: the sessions before the market clock's start traded by the backtest engine and booked
through the order and fill services (``execution_app.scenarios.history``), and a rebalance the desk
asks for at the replay's start, waiting for a trader's approval."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from desk import roles
from ops_app.accounts import desk_user_create
from desk.money import price as to_price

SECTORS = {
    "Information Technology": ["AAPL", "AMD", "MSFT"],
    "Financials": ["BAC", "JPM"],
    "Consumer Discretionary": ["BBY", "HD"],
    "Energy": ["CVX", "RRC", "XOM"],
    "Industrials": ["GE"],
    "Health Care": ["JNJ", "LLY", "MRK", "PFE", "UNH"],
    "Consumer Staples": ["KO", "PEP", "PG", "WMT"],
}
SECTOR_OF = {s: sector for sector, symbols in SECTORS.items() for s in symbols}
NAMES = {
    "AAPL": "Apple Inc.", "AMD": "Advanced Micro Devices", "BAC": "Bank of America", "BBY": "Best Buy",
    "CVX": "Chevron", "GE": "General Electric", "HD": "Home Depot", "JNJ": "Johnson & Johnson",
    "JPM": "JPMorgan Chase", "KO": "Coca-Cola", "LLY": "Eli Lilly", "MRK": "Merck", "MSFT": "Microsoft",
    "PEP": "PepsiCo", "PFE": "Pfizer", "PG": "Procter & Gamble", "RRC": "Range Resources",
    "UNH": "UnitedHealth Group", "WMT": "Walmart", "XOM": "Exxon Mobil",
}
# Stated average daily volumes (shares, rounded 2022 levels): the base of intraday volume and impact.
ADV = {
    "AAPL": 80_000_000, "AMD": 70_000_000, "BAC": 40_000_000, "BBY": 3_000_000, "CVX": 10_000_000,
    "GE": 7_000_000, "HD": 4_000_000, "JNJ": 7_000_000, "JPM": 11_000_000, "KO": 14_000_000,
    "LLY": 3_000_000, "MRK": 9_000_000, "MSFT": 30_000_000, "PEP": 5_000_000, "PFE": 30_000_000,
    "PG": 7_000_000, "RRC": 4_000_000, "UNH": 3_000_000, "WMT": 7_000_000, "XOM": 20_000_000,
}
INDEX_SYMBOL = "SPX"
VENUES = [
    # code, name, maker bps, taker bps, min fee, half-spread bps, latency ms, impact k, displayed share
    ("LIT-A", "Lit exchange A", "0.20", "0.30", "0.35", "1.0", "0.8", "0.10", "0.10"),
    ("LIT-B", "Lit exchange B", "0.10", "0.25", "0.25", "1.5", "2.0", "0.12", "0.06"),
    ("DARK-X", "Midpoint dark pool", "0.00", "0.10", "1.00", "0.0", "5.0", "0.05", "0.03"),
]
# The demo's FIX venue (``make run`` starts it: ``manage.py fix_venue --venue-code FIX-A``), reached over a
# FIX 4.4 session by the desk's gateway; its market parameters put it among the router's choices.
FIX_VENUE = ("FIX-A", "FIX exchange A", "0.15", "0.28", "0.30", "1.2", "1.5", "0.10", "0.08")
DEMO_PORTFOLIO = "Core Equity"
# Two of each role that checks another (maker != checker on proposals, four eyes on limits).
DEMO_USERS = [("trader", roles.TRADER), ("trader2", roles.TRADER), ("risk", roles.RISK_OFFICER), ("risk2", roles.RISK_OFFICER),
              ("admin", roles.ADMIN)]
DEMO_API_CLIENT = "signals-bot"
CREDENTIALS_FILE = "demo-logins.json"
# The history: about six months of sessions before the clock's start, traded at the closes with the
# costs of the demo's cheapest lit venue (its taker fee, its half-spread as slippage).
HISTORY_SESSIONS = 126
HISTORY_COMMISSION_BPS = Decimal("0.30")
HISTORY_SLIPPAGE_BPS = Decimal("1.0")
OPENING_TRIGGER = "the desk, at the replay's start"


@dataclass
class DemoResult:
    instruments_created: int
    bars_created: int
    logins: dict
    api_token: str
    history: Any = None  # execution_app.scenarios.history.HistoryLoaded, when asked for
    proposal_id: int | None = None


def demo_password() -> str:
    """One generated password for the demo users, kept in var/ (never in the repo)."""
    path = settings.VAR_DIR / CREDENTIALS_FILE
    if path.exists():
        return json.loads(path.read_text())["password"]
    password = "desk-" + secrets.token_urlsafe(9)
    path.write_text(json.dumps({"password": password}))
    path.chmod(0o600)
    return password


def price_frames():
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    return load_sp500_dataset(), load_sp500_index()


def price_bar_rows(frame, ids_by_symbol):
    """(instrument_id, date, close) tuples; closes as 6-place Decimals."""
    for symbol in frame.columns:
        iid = ids_by_symbol[symbol]
        col = frame[symbol].dropna()
        for ts, value in zip(col.index, col.to_numpy()):
            yield iid, ts.date(), to_price(float(value))


def instruments_ensure():
    from market_app.models import Instrument

    existing = set(Instrument.objects.values_list("symbol", flat=True))
    new = [
        Instrument(symbol=s, name=NAMES[s], sector=SECTOR_OF[s], adv=Decimal(ADV[s]))
        for s in sorted(SECTOR_OF)
        if s not in existing
    ]
    if INDEX_SYMBOL not in existing:
        new.append(Instrument(symbol=INDEX_SYMBOL, name="S&P 500 index", asset_class="index", tradable=False))
    Instrument.objects.bulk_create(new)
    return len(new), dict(Instrument.objects.values_list("symbol", "id"))


def price_bars_ensure(prices, index, ids_by_symbol) -> int:
    """Insert the bars an instrument lacks; an instrument already complete costs one count query."""
    from django.db.models import Count

    from market_app.models import PriceBar

    frame = prices.copy()
    frame[INDEX_SYMBOL] = index.iloc[:, 0]
    have = dict(
        PriceBar.objects.filter(instrument_id__in=ids_by_symbol.values())
        .values("instrument_id")
        .annotate(n=Count("id"))
        .values_list("instrument_id", "n")
    )
    todo = [s for s in frame.columns if have.get(ids_by_symbol[s], 0) < frame[s].notna().sum()]
    if not todo:
        return 0
    rows = [PriceBar(instrument_id=i, date=d, close=c) for i, d, c in price_bar_rows(frame[todo], ids_by_symbol)]
    PriceBar.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)
    return len(rows)


def venues_ensure() -> None:
    from orders_app.models import Venue

    existing = set(Venue.objects.values_list("code", flat=True))
    Venue.objects.bulk_create(
        [
            Venue(
                code=c, name=n, maker_fee_bps=Decimal(mk), taker_fee_bps=Decimal(tk), min_fee=Decimal(mf),
                half_spread_bps=Decimal(hs), latency_ms=Decimal(lat), impact_k=Decimal(k), displayed_share=Decimal(sh),
            )
            for c, n, mk, tk, mf, hs, lat, k, sh in VENUES
            if c not in existing
        ]
    )


def fix_venue_ensure(*, port: int) -> None:
    """The demo's FIX venue (idempotent): a session DESK -> VENUE on 127.0.0.1:``port``."""
    from orders_app.models import Venue

    c, n, mk, tk, mf, hs, lat, k, sh = FIX_VENUE
    Venue.objects.update_or_create(code=c, defaults=dict(
        name=n, kind=Venue.Kind.FIX, maker_fee_bps=Decimal(mk), taker_fee_bps=Decimal(tk), min_fee=Decimal(mf),
        half_spread_bps=Decimal(hs), latency_ms=Decimal(lat), impact_k=Decimal(k), displayed_share=Decimal(sh),
        fix_begin_string="FIX.4.4", fix_sender_comp_id="DESK", fix_target_comp_id="VENUE", fix_host="127.0.0.1",
        fix_port=port, fix_heartbeat_s=10,
    ))


def history_ensure(*, portfolio, users):
    """Core Equity's past before the clock's start (skipped when it has one) and, with a fresh history,
    the rebalance the desk asks for at the start: requested by no trader, so either demo trader approves it."""
    from execution_app.rebalance.services import proposal_compute, proposal_request
    from execution_app.scenarios.history import portfolio_history_load
    from market_app.clock import anchor_get_or_create

    start = anchor_get_or_create().start_market_date
    before = start if isinstance(start, date) else date.fromisoformat(str(start))
    loaded = portfolio_history_load(portfolio=portfolio, before=before, sessions=HISTORY_SESSIONS,
                                    commission_bps=HISTORY_COMMISSION_BPS, slippage_bps=HISTORY_SLIPPAGE_BPS)
    if loaded.skipped:
        return loaded, None
    proposal, _ = proposal_request(portfolio_id=portfolio.pk, trigger=OPENING_TRIGGER, actor=None, enqueue=False)
    return loaded, proposal_compute(proposal_id=proposal.pk).pk


def demo_load(*, with_prices: bool = True, fix_port: int | None = None, history: bool = False) -> DemoResult:
    from market_app.models import Instrument
    from portfolio_app.models import Portfolio

    password = demo_password()
    with transaction.atomic():
        created, ids = instruments_ensure()
        bars = 0
        if with_prices:
            prices, index = price_frames()
            bars = price_bars_ensure(prices, index, ids)
        venues_ensure()
        if fix_port:
            fix_venue_ensure(port=fix_port)
        users = {}
        for username, role in DEMO_USERS:
            users[username], _, _ = desk_user_create(username=username, role=role, password=password)
        users[DEMO_API_CLIENT], token, _ = desk_user_create(username=DEMO_API_CLIENT, role=roles.API_CLIENT)
        users["api"] = users[DEMO_API_CLIENT]  # the hooks' name for the demo's API client
        portfolio, _ = Portfolio.objects.get_or_create(
            name=DEMO_PORTFOLIO,
            defaults={
                "cash": Decimal(settings.DESK_DEMO_CAPITAL),
                "benchmark": Instrument.objects.get(symbol=INDEX_SYMBOL),
                "strategy": "max_sharpe",
                "strategy_params": {"risk_model": "ledoit_wolf", "lookback_days": 756},
                "constraints": {"weight_bounds": [0.0, 0.10]},
                "rebalance_policy": {"kind": "calendar", "frequency": "monthly"},
            },
        )
        portfolio.traders.add(users["trader"], users["trader2"])
        for hook in _extra_hooks():
            hook(portfolio=portfolio, users=users)
        loaded = proposal_id = None
        if history:
            loaded, proposal_id = history_ensure(portfolio=portfolio, users=users)
    return DemoResult(
        instruments_created=created,
        bars_created=bars,
        logins={u: password for u, _ in DEMO_USERS},
        api_token=token.key,
        history=loaded,
        proposal_id=proposal_id,
    )


def _extra_hooks():
    """Other apps' demo data (risk limits, agents, …), as dotted paths in settings.DESK_DEMO_HOOKS."""
    from django.utils.module_loading import import_string

    return [import_string(path) for path in getattr(settings, "DESK_DEMO_HOOKS", [])]
