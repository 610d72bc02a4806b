"""The authorisation matrix: every API operation, page and websocket group × every role.

ONE table (``MATRIX``) is the source of truth. ``tests/api/test_authorization_matrix.py``
replays every row against a real desk and checks that ``docs/security.md`` is this table
rendered; regenerate the document with

    python -m tests.api.authorization_matrix > docs/security.md

Each row: (surface, method, path, body, expected status per role, rule). Roles, in order:
anonymous, trader (owns "Core Equity" only), risk officer, API client (owns some agents),
admin. Placeholders in paths and bodies name objects of the test desk:

- ``{own_pf}`` / ``{other_pf}``: the trader's portfolio / a portfolio of another trader;
  likewise ``own_``/``other_`` proposal, order, alert, paper run;
- ``{own_agent}`` / ``{other_agent}``: an agent the API client owns / one it does not;
- ``{limit}``, ``{change}`` (a pending limit change by another officer), ``{rearm}`` (a
  re-arm request by another officer), ``{run}`` (research backtest), ``{rule}`` (alert rule),
  ``{recon_break}`` (an open reconciliation break), ``{other_trader}`` (the other portfolio's trader, a user
  admins manage), ``{instrument}`` (the instrument ``{symbol}`` names); ``{own_eod}`` / ``{other_eod}`` /
  ``{desk_eod}``: the end-of-day report of the trader's portfolio, of another trader's, of the desk;
  ``{rollout}`` (a rollout in shadow over ``{other_pf}``), ``{promotion}`` (an admin's pending promotion of
  another rollout), ``{v1}`` (version 1).

Websocket rows: ``CONNECT`` expects 101 (accepted) or the close code; ``GROUP`` rows say
whether the socket joins that group (1) or not (0).
"""

from __future__ import annotations

import sys

ROLES = ("anonymous", "trader", "risk", "api", "admin")
ROLE_TITLES = ("Anonymous", "Trader", "Risk officer", "API client", "Admin")

VENUE = {"code": "MATRIX-V", "name": "Matrix venue", "kind": "paper", "enabled": "on", "maker_fee_bps": "0", "taker_fee_bps": "0.3",
         "min_fee": "0", "half_spread_bps": "1", "latency_ms": "1", "impact_k": "0.1", "displayed_share": "0.1",
         "fix_begin_string": "FIX.4.4", "fix_heartbeat_s": "30", "reason": "matrix"}
SIGNAL = {"agent": "{own_agent_name}", "symbol": "{symbol}", "score": 0.5, "confidence": 0.8, "horizon_days": 5,
          "generated_at": "2022-06-01T14:00:00Z", "client_signal_id": "matrix-1"}
ORDER = {"portfolio": "{own_pf}", "symbol": "{symbol}", "side": "BUY", "quantity": "10"}
LIMIT = {"name": "Matrix limit", "kind": "max_order_qty", "threshold": "1000", "reason": "matrix"}
CHECK = {"portfolio": "{own_pf}", "symbol": "{symbol}", "side": "BUY", "quantity": "10"}
BACKTEST = {"strategy": "equal_weight", "start": "2021-01-04", "end": "2021-03-31"}
NEW_USER = {"username": "matrix-user", "roles": "Trader", "password": "Matrix-pass-phrase-42", "portfolios": "{own_pf}", "reason": "matrix"}
PORTFOLIO = {"name": "Matrix Book", "account": "cash", "initial_margin": "0.5", "gross_limit": "1", "strategy": "max_sharpe",
             "strategy_params": "{}", "constraints": "{}", "policy_kind": "calendar", "policy_frequency": "monthly", "reason": "matrix"}
INSTRUMENT = {"name": "Matrix", "lot_size": "1", "tick_size": "0.01", "adv": "1000000", "tradable": "on", "restricted": "on",
              "reason": "matrix"}

A, P, W = "API", "page", "websocket"
ANY_READY = (200, 503)  # readiness depends on the machine's Redis/broker, not on the caller

# fmt: off
MATRIX: list[tuple] = [
    # --- account ---------------------------------------------------------------------------------
    (A, "GET", "/api/v1/me/", None, (401, 200, 200, 200, 200), "any signed-in token"),
    (A, "GET", "/api/v1/clock/", None, (401, 200, 200, 200, 200), "any signed-in token"),
    (A, "POST", "/api/v1/token/rotate/", None, (401, 200, 200, 200, 200), "own token only; the old one stops at once"),
    (A, "POST", "/api/v1/token/revoke/", None, (401, 204, 204, 204, 204), "own token only"),
    (A, "GET", "/api/v1/schema/", None, (401, 200, 200, 200, 200), "OpenAPI for any signed-in user"),
    (A, "GET", "/api/v1/docs/", None, (401, 200, 200, 200, 200), "Swagger UI, self-hosted"),
    # --- signals, agents, aggregates -------------------------------------------------------------
    (A, "GET", "/api/v1/signals/", None, (401, 200, 200, 200, 200), "API clients see their agents' signals only"),
    (A, "POST", "/api/v1/signals/", SIGNAL, (401, 403, 403, 201, 201), "API clients submit for agents they own"),
    (A, "POST", "/api/v1/signals/", {**SIGNAL, "agent": "{other_agent_name}"}, (401, 403, 403, 403, 201), "…not for another's agent"),
    (A, "GET", "/api/v1/agents/", None, (401, 200, 200, 200, 200), "API clients see their own agents"),
    (A, "POST", "/api/v1/agents/", {"name": "matrix-agent", "type": "external"}, (401, 403, 403, 403, 201), "only admins change agents"),
    (A, "GET", "/api/v1/agents/types/", None, (401, 200, 200, 200, 200), ""),
    (A, "GET", "/api/v1/agents/{own_agent}/", None, (401, 200, 200, 200, 200), ""),
    (A, "GET", "/api/v1/agents/{other_agent}/", None, (401, 200, 200, 404, 200), "another client's agent is invisible"),
    (A, "PATCH", "/api/v1/agents/{own_agent}/", {"weight": "0.5"}, (401, 403, 403, 403, 200), "only admins change agents"),
    (A, "POST", "/api/v1/agents/{own_agent}/run/", None, (401, 403, 403, 403, 202), "only admins run agents"),
    (A, "PATCH", "/api/v1/agents/{own_agent}/mode/", {"mode": "shadow", "reason": "matrix"}, (401, 403, 403, 403, 200), "rollout: admins"),
    (A, "GET", "/api/v1/agents/{own_agent}/versions/", None, (401, 200, 200, 200, 200), "who, when, why, the diff"),
    (A, "GET", "/api/v1/agents/{other_agent}/versions/", None, (401, 200, 200, 404, 200), "another client's agent is invisible"),
    (A, "POST", "/api/v1/agents/{own_agent}/versions/{v1}/restore/", {"reason": "matrix"}, (401, 403, 403, 403, 200), "only admins change agents"),
    (A, "GET", "/api/v1/aggregates/", None, (401, 200, 200, 200, 200), "API clients: views of their own agents"),
    # --- gradual rollout (versions of a strategy: shadow -> canary -> full) -------------------------
    (A, "GET", "/api/v1/rollouts/", None, (401, 200, 200, 403, 200), "traders: rollouts touching their portfolios"),
    (A, "POST", "/api/v1/rollouts/", {"name": "matrix-new", "portfolios": ["{own_pf}"], "candidate": {"strategy": "min_volatility"}, "reason": "matrix"}, (401, 403, 403, 403, 201), "admins start a rollout"),
    (A, "GET", "/api/v1/rollouts/{rollout}/", None, (401, 404, 200, 403, 200), "…a trader sees one touching their portfolios"),
    (A, "POST", "/api/v1/rollouts/{rollout}/promotions/", {"reason": "matrix", "canary": ["{other_pf}"]}, (401, 403, 403, 403, 201), "admins request a promotion"),
    (A, "POST", "/api/v1/rollouts/promotions/{promotion}/approve/", {}, (401, 403, 200, 403, 403), "a risk officer signs off (never their own request)"),
    (A, "POST", "/api/v1/rollouts/promotions/{promotion}/reject/", {"reason": "matrix"}, (401, 403, 200, 403, 403), ""),
    (A, "POST", "/api/v1/rollouts/{rollout}/rollback/", {"reason": "matrix"}, (401, 403, 409, 403, 409), "admins, risk officers (this one is in shadow: 409)"),
    (A, "POST", "/api/v1/rollouts/{rollout}/abandon/", {"reason": "matrix"}, (401, 403, 403, 403, 200), "admins, while in shadow"),
    # --- portfolios and proposals ----------------------------------------------------------------
    (A, "GET", "/api/v1/portfolios/", None, (401, 200, 200, 403, 200), "traders: their portfolios"),
    (A, "GET", "/api/v1/portfolios/{own_pf}/", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/portfolios/{other_pf}/", None, (401, 404, 200, 403, 200), "another trader's portfolio is invisible"),
    (A, "GET", "/api/v1/portfolios/{own_pf}/frontier/", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/portfolios/{other_pf}/frontier/", None, (401, 404, 200, 403, 200), ""),
    (A, "PATCH", "/api/v1/portfolios/{own_pf}/mode/", {"mode": "shadow", "reason": "matrix"}, (401, 403, 403, 403, 200), "rollout: admins"),
    (A, "PATCH", "/api/v1/portfolios/{own_pf}/strategy/", {"strategy_params": {"lookback_days": 500}, "reason": "matrix"}, (401, 403, 403, 403, 200), "strategy versions: admins"),
    (A, "GET", "/api/v1/portfolios/{own_pf}/strategy/versions/", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/portfolios/{other_pf}/strategy/versions/", None, (401, 404, 200, 403, 200), "another trader's portfolio is invisible"),
    (A, "POST", "/api/v1/portfolios/{own_pf}/strategy/versions/{v1}/restore/", {"reason": "matrix"}, (401, 403, 403, 403, 200), "restore: admins, itself a version"),
    (A, "POST", "/api/v1/portfolios/{own_pf}/proposals/", None, (401, 202, 403, 403, 403), "only an owning trader requests a rebalance"),
    (A, "POST", "/api/v1/portfolios/{other_pf}/proposals/", None, (401, 403, 403, 403, 403), ""),
    (A, "GET", "/api/v1/proposals/", None, (401, 200, 200, 403, 200), "traders: their portfolios' proposals"),
    (A, "GET", "/api/v1/proposals/{own_proposal}/", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/proposals/{other_proposal}/", None, (401, 404, 200, 403, 200), ""),
    (A, "POST", "/api/v1/proposals/{own_proposal}/approve/", None, (401, 200, 403, 403, 403), "only an owning trader approves"),
    (A, "POST", "/api/v1/proposals/{other_proposal}/approve/", None, (401, 403, 403, 403, 403), ""),
    (A, "POST", "/api/v1/proposals/{own_proposal}/reject/", {"reason": "matrix"}, (401, 200, 403, 403, 403), "only an owning trader rejects"),
    (A, "POST", "/api/v1/proposals/{other_proposal}/reject/", {"reason": "matrix"}, (401, 403, 403, 403, 403), ""),
    # --- orders ----------------------------------------------------------------------------------
    (A, "GET", "/api/v1/orders/", None, (401, 200, 200, 403, 200), "traders: their portfolios' orders"),
    (A, "POST", "/api/v1/orders/", ORDER, (401, 201, 403, 403, 403), "only traders place orders (risk officers never)"),
    (A, "POST", "/api/v1/orders/", {**ORDER, "portfolio": "{other_pf}"}, (401, 403, 403, 403, 403), "…in their own portfolios"),
    (A, "GET", "/api/v1/orders/{own_order}/", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/orders/{other_order}/", None, (401, 404, 200, 403, 200), ""),
    (A, "POST", "/api/v1/orders/{own_order}/cancel/", {}, (401, 200, 200, 403, 403), "the portfolio's traders, or a risk officer"),
    (A, "POST", "/api/v1/orders/{other_order}/cancel/", {}, (401, 404, 200, 403, 403), ""),
    (A, "POST", "/api/v1/orders/{own_order}/amend/", {"quantity": "5"}, (401, 200, 403, 403, 403), "the portfolio's traders"),
    (A, "POST", "/api/v1/portfolios/{own_pf}/cancel-all/", {}, (401, 200, 200, 403, 403), "the portfolio's traders, or a risk officer"),
    (A, "POST", "/api/v1/portfolios/{other_pf}/cancel-all/", {}, (401, 403, 200, 403, 403), ""),
    (A, "GET", "/api/v1/venues/scorecard/", None, (401, 200, 200, 403, 200), ""),
    # --- end-of-day reports --------------------------------------------------------------------------
    (A, "GET", "/api/v1/eod-reports/", None, (401, 200, 200, 403, 200), "traders: their portfolios' reports"),
    (A, "POST", "/api/v1/eod-reports/", {"portfolio": "{own_pf}"}, (401, 201, 201, 403, 201), "own portfolio's report: a new version, never a change"),
    (A, "POST", "/api/v1/eod-reports/", {"portfolio": "{other_pf}"}, (401, 403, 201, 403, 201), "…another trader's portfolio's"),
    (A, "POST", "/api/v1/eod-reports/", {}, (401, 403, 201, 403, 201), "the desk's report: risk officers and admins"),
    (A, "GET", "/api/v1/eod-reports/{own_eod}/", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/eod-reports/{other_eod}/", None, (401, 404, 200, 403, 200), "another trader's report is invisible"),
    (A, "GET", "/api/v1/eod-reports/{desk_eod}/", None, (401, 404, 200, 403, 200), ""),
    (A, "GET", "/api/v1/eod-reports/{own_eod}/csv/", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/eod-reports/{other_eod}/csv/", None, (401, 404, 200, 403, 200), ""),
    (A, "GET", "/api/v1/eod-reports/{own_eod}/pdf/", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/eod-reports/{other_eod}/pdf/", None, (401, 404, 200, 403, 200), ""),
    # --- risk ------------------------------------------------------------------------------------
    (A, "GET", "/api/v1/risk/limits/", None, (401, 200, 200, 403, 200), "every desk user reads limits"),
    (A, "POST", "/api/v1/risk/limits/", LIMIT, (401, 403, 201, 403, 403), "only risk officers change limits (admins never)"),
    (A, "GET", "/api/v1/risk/limits/{limit}/", None, (401, 200, 200, 403, 200), ""),
    (A, "PATCH", "/api/v1/risk/limits/{limit}/", {"threshold": "1000", "reason": "tighten"}, (401, 403, 200, 403, 403), "tightening applies at once"),
    (A, "DELETE", "/api/v1/risk/limits/{limit}/", {"reason": "matrix"}, (401, 403, 202, 403, 403), "deleting waits for a second officer"),
    (A, "GET", "/api/v1/risk/limits/{limit}/history/", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/risk/pending-changes/", None, (401, 200, 200, 403, 200), ""),
    (A, "POST", "/api/v1/risk/pending-changes/{change}/approve/", {"reason": "ok"}, (401, 403, 200, 403, 403), "a second officer (four eyes)"),
    (A, "POST", "/api/v1/risk/pending-changes/{change}/reject/", {"reason": "no"}, (401, 403, 200, 403, 403), ""),
    (A, "GET", "/api/v1/risk/state/", None, (401, 200, 200, 403, 200), ""),
    (A, "POST", "/api/v1/risk/state/", {"scope": "desk", "state": "REDUCING", "reason": "matrix"}, (401, 403, 200, 403, 403), "only risk officers change trading state (admins never)"),
    (A, "POST", "/api/v1/risk/state/confirm/", {"rearm_id": "{rearm}"}, (401, 403, 200, 403, 403), "re-arm: a second officer"),
    (A, "POST", "/api/v1/risk/state/reject/", {"rearm_id": "{rearm}", "reason": "no"}, (401, 403, 204, 403, 403), ""),
    (A, "POST", "/api/v1/risk/check/", CHECK, (401, 200, 200, 403, 200), "a dry run: any desk user, visible portfolios"),
    (A, "POST", "/api/v1/risk/check/", {**CHECK, "portfolio": "{other_pf}"}, (401, 400, 200, 403, 200), "another's portfolio: a field error"),
    (A, "GET", "/api/v1/risk/exposure/?portfolio={own_pf}", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/risk/exposure/?portfolio={other_pf}", None, (401, 404, 200, 403, 200), ""),
    (A, "GET", "/api/v1/alerts/", None, (401, 200, 200, 403, 200), "traders: desk-wide and their portfolios' alerts"),
    (A, "POST", "/api/v1/alerts/{own_alert}/acknowledge/", None, (401, 200, 200, 403, 200), ""),
    (A, "POST", "/api/v1/alerts/{other_alert}/acknowledge/", None, (401, 404, 200, 403, 200), "another portfolio's alert is invisible"),
    # --- backtests and scenario runs -------------------------------------------------------------
    (A, "GET", "/api/v1/backtests/", None, (401, 200, 200, 403, 200), "research runs: every desk user"),
    (A, "POST", "/api/v1/backtests/", BACKTEST, (401, 202, 202, 403, 202), ""),
    (A, "GET", "/api/v1/backtests/{run}/", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/backtests/{other_paper}/", None, (401, 404, 200, 403, 200), "a portfolio's runs follow the portfolio"),
    (A, "GET", "/api/v1/backtests/{run}/equity.csv", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/backtests/{run}/trades.csv", None, (401, 200, 200, 403, 200), ""),
    (A, "GET", "/api/v1/backtests/compare/?ids={run},{own_paper}", None, (401, 200, 200, 403, 200), ""),
    (A, "POST", "/api/v1/backtests/paper/", {"portfolio": "Core Equity"}, (401, 201, 201, 403, 201), ""),
    (A, "POST", "/api/v1/backtests/{own_paper}/stop/", None, (401, 200, 200, 403, 200), ""),
    (A, "POST", "/api/v1/backtests/{other_paper}/stop/", None, (401, 404, 200, 403, 200), ""),
    # --- pages (session login; API clients have no password and no pages) -------------------------
    (P, "GET", "/login/", None, (200, 302, 302, 302, 302), "signed-in users are sent on"),
    (P, "POST", "/logout/", None, (302, 302, 302, 302, 302), "POST only, with CSRF"),
    (P, "GET", "/healthz", None, (200, 200, 200, 200, 200), "liveness probe, no data"),
    (P, "GET", "/readyz", None, (ANY_READY,) * 5, "readiness probe, component names only"),
    (P, "GET", "/metrics", None, (200, 200, 200, 200, 200), "bearer token or an allowed network (here: loopback)"),
    (P, "GET", "/admin/", None, (302, 302, 302, 302, 200), "Django admin: admins"),
    (P, "GET", "/", None, (302, 200, 200, 403, 200), "overview"),
    (P, "GET", "/portfolio/", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/proposals/", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/proposals/{own_proposal}/", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/proposals/{other_proposal}/", None, (302, 404, 200, 403, 200), ""),
    (P, "GET", "/orders/", None, (302, 200, 200, 403, 200), "blotter"),
    (P, "POST", "/orders/", {"portfolio": "{own_pf}", "symbol": "{symbol}", "side": "BUY", "quantity": "10"}, (302, 302, 403, 403, 403), "only traders place orders"),
    (P, "GET", "/orders/{own_order}/", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/orders/{other_order}/", None, (302, 404, 200, 403, 200), ""),
    (P, "GET", "/orders/{own_order}/children/", None, (302, 200, 200, 403, 200), ""),
    (P, "POST", "/orders/{own_order}/cancel/", {}, (302, 302, 302, 403, 403), "the portfolio's traders, or a risk officer"),
    (P, "POST", "/orders/{other_order}/cancel/", {}, (302, 404, 302, 403, 403), ""),
    (P, "POST", "/orders/portfolio/{own_pf}/cancel-all/", {}, (302, 302, 302, 403, 403), "the portfolio's traders, or a risk officer"),
    (P, "POST", "/orders/portfolio/{other_pf}/cancel-all/", {}, (302, 403, 302, 403, 403), ""),
    (P, "GET", "/risk/", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/risk/limits/{limit}/history/", None, (302, 200, 200, 403, 200), ""),
    (P, "POST", "/risk/limits/new/", {"name": "Matrix", "scope": "desk", "kind": "max_order_qty", "threshold": "1000", "action": "block", "reason": "matrix"}, (302, 403, 302, 403, 403), "only risk officers (admins never)"),
    (P, "POST", "/risk/limits/{limit}/edit/", {"threshold": "1000", "reason": "tighten"}, (302, 403, 302, 403, 403), ""),
    (P, "POST", "/risk/limits/{limit}/delete/", {"reason": "matrix"}, (302, 403, 302, 403, 403), ""),
    (P, "POST", "/risk/changes/{change}/approve/", {"reason": "ok"}, (302, 403, 302, 403, 403), "a second officer"),
    (P, "POST", "/risk/changes/{change}/reject/", {"reason": "no"}, (302, 403, 302, 403, 403), ""),
    (P, "POST", "/risk/state/", {"scope": "desk", "state": "REDUCING", "reason": "matrix"}, (302, 403, 302, 403, 403), "kill switch: risk officers only"),
    (P, "POST", "/risk/state/confirm/", {"rearm_id": "{rearm}"}, (302, 403, 302, 403, 403), ""),
    (P, "POST", "/risk/state/reject/", {"rearm_id": "{rearm}", "reason": "no"}, (302, 403, 302, 403, 403), ""),
    (P, "POST", "/risk/alerts/{own_alert}/acknowledge/", {}, (302, 302, 302, 403, 302), ""),
    (P, "POST", "/risk/alerts/{other_alert}/acknowledge/", {}, (302, 404, 302, 403, 302), "another portfolio's alert is invisible"),
    (P, "GET", "/venues/", None, (302, 200, 200, 403, 200), "every desk user reads the venues and their sessions"),
    (P, "POST", "/venues/new/", VENUE, (302, 403, 403, 403, 302), "venues: admins"),
    (P, "POST", "/venues/{venue}/", {**VENUE, "code": "{venue_code}"}, (302, 403, 403, 403, 302), ""),
    (P, "POST", "/venues/{venue}/sequence-reset/", {"reason": "matrix"}, (302, 403, 403, 403, 302), "an audited admin action"),
    (P, "GET", "/venues/reconciliation/", None, (302, 200, 200, 403, 200), "every desk user reads the runs and breaks"),
    (P, "POST", "/venues/{venue}/reconcile/", {}, (302, 403, 302, 403, 302), "Reconcile now: admins and risk officers"),
    (P, "POST", "/venues/reconciliation/breaks/{recon_break}/resolve/", {"note": "matrix"}, (302, 403, 302, 403, 302), "resolved with a note, audited who/when"),
    (P, "GET", "/manage/", None, (302, 403, 403, 403, 302), "management pages: admins only (to Users and roles)"),
    (P, "GET", "/manage/users/", None, (302, 403, 403, 403, 200), "users, roles, tokens: admins"),
    (P, "POST", "/manage/users/new/", NEW_USER, (302, 403, 403, 403, 200), "the answer shows the new token once"),
    (P, "GET", "/manage/users/{other_trader}/", None, (302, 403, 403, 403, 200), ""),
    (P, "POST", "/manage/users/{other_trader}/", {"roles": "Trader", "portfolios": "{other_pf}", "reason": "matrix"}, (302, 403, 403, 403, 302), "roles and portfolios, audited"),
    (P, "POST", "/manage/users/{other_trader}/deactivate/", {"reason": "matrix"}, (302, 403, 403, 403, 302), "ends their sessions and token"),
    (P, "POST", "/manage/users/{other_trader}/activate/", {"reason": "matrix"}, (302, 403, 403, 403, 400), "(already active: a field error)"),
    (P, "POST", "/manage/users/{other_trader}/token/", {"reason": "matrix"}, (302, 403, 403, 403, 200), "the old token fails at once"),
    (P, "GET", "/manage/portfolios/", None, (302, 403, 403, 403, 200), "portfolios' traders, account, strategy, policy: admins"),
    (P, "POST", "/manage/portfolios/new/", {**PORTFOLIO, "cash": "1000000"}, (302, 403, 403, 403, 302), ""),
    (P, "GET", "/manage/portfolios/{own_pf}/", None, (302, 403, 403, 403, 200), ""),
    (P, "POST", "/manage/portfolios/{own_pf}/", {**PORTFOLIO, "name": "Core Equity"}, (302, 403, 403, 403, 302), ""),
    (P, "GET", "/manage/instruments/", None, (302, 403, 403, 403, 200), "lot size, ADV, restricted list: admins"),
    (P, "GET", "/manage/instruments/{instrument}/", None, (302, 403, 403, 403, 200), ""),
    (P, "POST", "/manage/instruments/{instrument}/", INSTRUMENT, (302, 403, 403, 403, 302), "the gate reads the restricted flag at its next check"),
    (P, "GET", "/manage/audit/", None, (302, 403, 403, 403, 200), "who, when, before → after, why"),
    (P, "GET", "/agents/", None, (302, 200, 200, 403, 200), ""),
    (P, "POST", "/agents/{own_agent}/edit/", {"weight": "0.5", "enabled": "on"}, (302, 403, 403, 403, 302), "only admins change agents"),
    (P, "POST", "/agents/{own_agent}/versions/{v1}/restore/", {"reason": "matrix"}, (302, 403, 403, 403, 302), "only admins change agents"),
    (P, "GET", "/backtests/", None, (302, 200, 200, 403, 200), ""),
    (P, "POST", "/backtests/", {**BACKTEST, "rebalance": "monthly", "capital": "1000000", "commission_bps": "5", "slippage_bps": "0", "fill": "close"}, (302, 302, 302, 403, 302), ""),
    (P, "GET", "/backtests/{run}/", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/backtests/{other_paper}/", None, (302, 404, 200, 403, 200), ""),
    (P, "GET", "/backtests/{run}/tearsheet/", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/backtests/compare/?ids={run},{own_paper}", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/reports/", None, (302, 200, 200, 403, 200), "end-of-day reports: traders see their portfolios'"),
    (P, "POST", "/reports/generate/", {"portfolio": "{own_pf}"}, (302, 302, 302, 403, 302), "own portfolio's report: a new version beside the old"),
    (P, "POST", "/reports/generate/", {"portfolio": "{other_pf}"}, (302, 403, 302, 403, 302), "…another trader's portfolio's"),
    (P, "GET", "/reports/{own_eod}/", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/reports/{other_eod}/", None, (302, 404, 200, 403, 200), ""),
    (P, "GET", "/reports/{desk_eod}/", None, (302, 404, 200, 403, 200), "the desk's: risk officers and admins"),
    (P, "GET", "/reports/{own_eod}/csv/", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/reports/{other_eod}/csv/", None, (302, 404, 200, 403, 200), ""),
    (P, "GET", "/reports/{own_eod}/pdf/", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/reports/{other_eod}/pdf/", None, (302, 404, 200, 403, 200), ""),
    (P, "GET", "/monitoring/", None, (302, 200, 200, 403, 200), ""),
    (P, "GET", "/monitoring/data/", None, (302, 200, 200, 403, 200), ""),
    (P, "POST", "/monitoring/rules/new/", {"name": "x"}, (302, 403, 403, 403, 302), "alert rules: admins"),
    (P, "POST", "/monitoring/rules/{rule}/", {"name": "x"}, (302, 403, 403, 403, 302), ""),
    (P, "POST", "/monitoring/mode/", {"target": "agent", "id": "{own_agent}", "mode": "shadow"}, (302, 403, 403, 403, 302), "rollout: admins"),
    (P, "POST", "/monitoring/rollouts/{rollout}/promote/", {"reason": "matrix", "canary": "{other_pf}"}, (302, 403, 403, 403, 302), "rollout steps: the services decide who may"),
    (P, "POST", "/monitoring/rollouts/{rollout}/rollback/", {"reason": "matrix"}, (302, 403, 302, 403, 302), "(in shadow: the page says it cannot)"),
    (P, "POST", "/monitoring/rollouts/{rollout}/abandon/", {"reason": "matrix"}, (302, 403, 403, 403, 302), ""),
    (P, "POST", "/monitoring/promotions/{promotion}/", {"decision": "approve"}, (302, 403, 302, 403, 403), "sign-off: risk officers"),
    # --- websocket (the browser's live channel; session cookie) ------------------------------------
    (W, "CONNECT", "/ws/desk/", None, (4401, 101, 101, 101, 101), "anonymous sockets are closed (4401)"),
    (W, "GROUP", "desk", None, (0, 1, 1, 0, 1), "desk-wide events: people only"),
    (W, "GROUP", "signals", None, (0, 1, 1, 0, 1), "the live signal feed"),
    (W, "GROUP", "portfolio.{own_pf}", None, (0, 1, 1, 0, 1), "a portfolio's fills, orders, proposals"),
    (W, "GROUP", "portfolio.{other_pf}", None, (0, 0, 1, 0, 1), "…only for those who may see it"),
    (W, "GROUP", "role.risk_officer", None, (0, 0, 1, 0, 0), "risk officers' notices"),
]
# fmt: on


def _cell(code, surface: str) -> str:
    if isinstance(code, tuple):
        return " or ".join(str(c) for c in code)
    if surface == W:
        return {0: "–", 1: "joins", 101: "accepted", 4401: "closed 4401"}.get(code, str(code))
    mark = "✅" if 200 <= code < 300 else ("↪" if code in (301, 302, 303) else "⛔")
    return f"{mark} {code}"


def render() -> str:
    from tests.api import security_notes

    out = [security_notes.HEADER, "", "## Authorisation matrix", "", security_notes.MATRIX_INTRO, ""]
    for surface, title in ((A, "API (`Authorization: Token …`)"), (P, "Pages (session login)"), (W, "Websocket `/ws/desk/`")):
        out += [f"### {title}", "", "| " + " | ".join(["Request", *ROLE_TITLES, "Rule"]) + " |",
                "|" + "---|" * (len(ROLES) + 2)]
        for s, method, path, _body, codes, rule in MATRIX:
            if s != surface:
                continue
            req = f"`{method} {path}`" if surface != W else (f"`{method} {path}`" if method == "CONNECT" else f"group `{path}`")
            out.append("| " + " | ".join([req, *(_cell(c, surface) for c in codes), rule]) + " |")
        out.append("")
    out += [security_notes.MEASURES]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
