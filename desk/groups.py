"""Websocket group names: the one module that spells them (STYLE.md rule 10)."""

from __future__ import annotations

from desk import roles

DESK = "desk"  # every signed-in desk user: heartbeat, trading state, desk-wide alerts


def portfolio(portfolio_id: int) -> str:
    """Events of one portfolio: fills, orders, proposals, its alerts and risk state."""
    return f"portfolio.{portfolio_id}"


def user(user_id: int) -> str:
    """One user's sockets: told when their access changed (deactivated, roles or portfolios changed)."""
    return f"user.{user_id}"


def role(role_name: str) -> str:
    return "role." + role_name.lower().replace(" ", "_")


RISK = role(roles.RISK_OFFICER)
ADMINS = role(roles.ADMIN)
TRADERS = role(roles.TRADER)
SIGNALS = "signals"  # the live signal feed (admins and risk officers; traders read views)


def agent(agent_id: int) -> str:
    return f"agent.{agent_id}"
