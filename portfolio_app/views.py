"""The Proposals and Portfolio pages (thin: authorise, read, render).

Buttons call the API (``static/js/proposals.js``); ``?partial=1`` renders only the
live panel so the page can swap it in when a ``proposal.updated`` event arrives.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from desk import ports
from market_app.clock import get_clock
from market_app.marks import MissingMark
from desk.web import desk_page
from portfolio_app import reports
from portfolio_app.states import OPEN_PROPOSAL_STATUSES
from portfolio_app.selectors import may_decide, portfolios_visible_to, proposal_with_trades, proposals_visible_to

HISTORY = 30


def proposal_context(p, user) -> dict:
    """Everything the proposal panel shows, and whether this user may decide."""
    trades = list(p.trades.all())
    return {
        "p": p,
        "trades": trades,
        "may_decide": may_decide(user, p.portfolio),
        # Maker != checker: the trader who asked for it may withdraw (reject) it, never approve it.
        "own_request": p.created_by_id is not None and p.created_by_id == getattr(user, "pk", None),
        "pending": p.status == "PENDING_APPROVAL",
        "open": p.status in OPEN_PROPOSAL_STATUSES,
        "allocation": reports.allocation_rows(p.current_weights or {}, p.target_weights or {}),
        "warned": sum(1 for t in trades if (t.risk or {}).get("warnings")),
        "blocked": sum(1 for t in trades if (t.risk or {}).get("passed") is False),
        "notional": sum((t.notional for t in trades), 0),
    }


@desk_page
def proposals(request):
    """Per visible portfolio its latest proposal in full, then the recent history."""
    visible = list(portfolios_visible_to(request.user))
    featured = []
    qs = proposals_visible_to(request.user).prefetch_related("trades__instrument").order_by("-created_at", "-id")
    for portfolio in visible:
        latest = qs.filter(portfolio=portfolio).first()
        featured.append({
            "portfolio": portfolio,
            "may_request": may_decide(request.user, portfolio),
            "proposal": proposal_context(latest, request.user) if latest else None,
        })
    context = {"featured": featured, "history": qs[:HISTORY], "portfolio_ids": [p.pk for p in visible]}
    template = "portfolio/_proposals_live.html" if request.GET.get("partial") else "portfolio/proposals.html"
    return render(request, template, context)


@desk_page
def proposal_detail(request, proposal_id: int):
    if not proposals_visible_to(request.user).filter(pk=proposal_id).exists():
        raise Http404("No such proposal")
    p = proposal_with_trades(proposal_id)
    context = {
        "featured": [{"portfolio": p.portfolio, "may_request": may_decide(request.user, p.portfolio),
                      "proposal": proposal_context(p, request.user)}],
        "events": list(p.events.select_related("actor")),
        "portfolio_ids": [p.portfolio_id],
        "single": True,
    }
    template = "portfolio/_proposals_live.html" if request.GET.get("partial") else "portfolio/proposal_detail.html"
    return render(request, template, context)


@desk_page
def portfolio(request):
    """Positions with P&L, the account (reserved cash, buying power), allocation (current vs the latest
    proposal's target), efficient frontier."""
    market_now = get_clock().market_now()
    visible = list(portfolios_visible_to(request.user))
    wanted = request.GET.get("id")
    shown = [p for p in visible if str(p.pk) == wanted] if wanted else visible[:1]
    panels = []
    for pf in shown:
        try:
            book = reports.portfolio_book(pf, market_now)
        except MissingMark as e:  # say which instrument cannot be valued rather than show a wrong NAV
            panels.append({"portfolio": pf, "error": str(e)})
            continue
        account = reports.account_figures(book, reserved=ports.reservations().reserved(portfolio_id=pf.pk))
        latest = reports.latest_proposal(pf)
        frontier = reports.frontier_data(pf, market_now=market_now, current=book.weights, proposal=latest)
        panels.append({
            "book": book,
            "account": account,
            "latest": latest,
            "may_request": may_decide(request.user, pf) and not (latest and latest.status in OPEN_PROPOSAL_STATUSES),
            "allocation": reports.allocation_rows(book.weights, latest.target_weights if latest else {}),
            "frontier": frontier,
            "svg": reports.frontier_svg(frontier),
        })
    return render(request, "portfolio/portfolio.html", {
        "panels": panels, "portfolios": visible, "market_now": market_now, "portfolio_ids": [p.pk for p in shown],
    })
