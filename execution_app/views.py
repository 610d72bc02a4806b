"""The trader's landing page (thin: authorise, call a selector, render)."""

from __future__ import annotations

from django.shortcuts import render

from desk.web import desk_page
from market_app.marks import MissingMark
from portfolio_app.selectors import portfolios_visible_to


@desk_page
def overview(request):
    """The trader's landing page: one portfolio at the market time (``?id=`` picks which)."""
    from market_app.clock import get_clock
    from execution_app.overview import overview_state

    market_now = get_clock().market_now()
    visible = list(portfolios_visible_to(request.user))
    wanted = request.GET.get("id")
    current = next((p for p in visible if str(p.pk) == wanted), visible[0] if visible else None)
    state = error = None
    if current is not None:
        from risk_app.selectors import risk_snapshot
        from risk_app.services import risk_monitor_recompute

        try:
            if risk_snapshot(current.pk) is None:  # as the Risk page does: the first look computes it
                risk_monitor_recompute(portfolio_id=current.pk)
            state = overview_state(current, market_now=market_now, user=request.user)
        except MissingMark as e:  # say which instrument cannot be valued rather than show a wrong NAV
            error = str(e)
    return render(request, "execution/overview.html", {
        "portfolios": visible, "current": current, "s": state, "error": error, "market_now": market_now,
    })
