"""The frame every page shares: navigation, trading state, live indicator."""

from __future__ import annotations

from desk import roles

NAV = [
    ("overview", "Overview"),
    ("portfolio", "Portfolio"),
    ("proposals", "Proposals"),
    ("orders", "Orders"),
    ("risk", "Risk"),
    ("agents", "Agents"),
    ("venues", "Venues"),
    ("backtests", "Backtests"),
    ("eod-reports", "Reports"),
    ("monitoring", "Monitoring"),
]
# Admins also see the management pages (users and roles, portfolios, instruments, the audit list).
ADMIN_NAV = [("manage", "Manage")]


def desk_frame(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from risk_app.selectors import active_alert_count, desk_trading_state

    from django.conf import settings

    return {
        "display_tz": settings.DESK_DISPLAY_TZ,
        "nav": NAV + ADMIN_NAV if roles.is_admin(user) else NAV,
        "desk_roles": sorted(roles.roles_of(user)),
        "trading_state": desk_trading_state(),
        "alert_count": active_alert_count(),
        "is_trader": roles.is_trader(user),
        "is_risk_officer": roles.is_risk_officer(user),
        "is_desk_admin": roles.is_admin(user),
    }
