"""The desk's roles (DESIGN.md, "Roles") as Django groups, and the checks every edge uses.

One place decides who may do what; views, API permissions, consumers and
templates all ask here.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

TRADER = "Trader"
RISK_OFFICER = "Risk officer"
ADMIN = "Admin"
API_CLIENT = "API client"
ALL_ROLES = (TRADER, RISK_OFFICER, ADMIN, API_CLIENT)

# ``create_desk_user --role`` short names.
ROLE_BY_SHORT_NAME = {"trader": TRADER, "risk": RISK_OFFICER, "admin": ADMIN, "api": API_CLIENT}


def roles_of(user) -> set[str]:
    if user is None or not user.is_authenticated:
        return set()
    cached = getattr(user, "_desk_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached.add(ADMIN)
        user._desk_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))


def is_admin(user) -> bool:
    return has_role(user, ADMIN)


def is_trader(user) -> bool:
    return has_role(user, TRADER)


def is_risk_officer(user) -> bool:
    return has_role(user, RISK_OFFICER)


def is_api_client(user) -> bool:
    return has_role(user, API_CLIENT)


def sees_all_portfolios(user) -> bool:
    """Risk officers and admins see every portfolio; traders only those they own."""
    return has_role(user, RISK_OFFICER, ADMIN)


def may_use_dashboard(user) -> bool:
    """API clients have a token and no password: the browser pages are for people."""
    return has_role(user, TRADER, RISK_OFFICER, ADMIN)


class HasRole(BasePermission):
    """DRF permission: ``HasRole.of(TRADER, ADMIN)`` admits users holding any of them."""

    roles: tuple[str, ...] = ()
    message = "Your role does not allow this."

    @classmethod
    def of(cls, *roles: str) -> type["HasRole"]:
        return type(f"HasRole_{'_'.join(r.replace(' ', '') for r in roles)}", (cls,), {"roles": roles})

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, *self.roles)


IsDeskUser = HasRole.of(TRADER, RISK_OFFICER, ADMIN)
IsTrader = HasRole.of(TRADER)
IsRiskOfficer = HasRole.of(RISK_OFFICER)
IsRiskOfficerOrAdmin = HasRole.of(RISK_OFFICER, ADMIN)
IsAdmin = HasRole.of(ADMIN)
