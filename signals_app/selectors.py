"""Signals and agents: the reads.

Hot paths read columns (``values_list``, decimals cast to floats in SQL), never
model instances: the aggregation works on numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import Count, FloatField, Q, QuerySet
from django.db.models.functions import Cast

from desk import roles
from signals_app.aggregation import SECONDS_PER_DAY, ViewTable, get_aggregator, views_to_bl
from signals_app.agents.base import NEW_YORK, prices_as_of
from desk.interfaces import SignalRecord, View
from signals_app.models import Agent, Signal
from signals_app.validation import MAX_HORIZON_DAYS


def agents_visible_to(user) -> QuerySet[Agent]:
    """Desk users see every agent; an API client only the agents it owns."""
    if roles.has_role(user, roles.ADMIN, roles.TRADER, roles.RISK_OFFICER):
        return Agent.objects.all()
    if roles.is_api_client(user):
        return Agent.objects.filter(owner=user)
    return Agent.objects.none()


def signals_visible_to(user) -> QuerySet[Signal]:
    if roles.has_role(user, roles.ADMIN, roles.TRADER, roles.RISK_OFFICER):
        return Signal.objects.all()
    if roles.is_api_client(user):
        return Signal.objects.filter(agent__owner=user)
    return Signal.objects.none()


def signal_list(*, user) -> QuerySet[Signal]:
    """The user's visible signals, newest first (``SignalFilter`` narrows them)."""
    return signals_visible_to(user).select_related("agent", "instrument").order_by("-generated_at", "-id")


def live_signal_columns(as_of: datetime, *, agent_ids: list[int] | None = None, exclude_shadow: bool = True) -> dict[str, Any]:
    """The columns ``aggregation.aggregate_table`` takes, for enabled agents' signals that may be live at ``as_of``.

    The SQL window (generated in the last ``MAX_HORIZON_DAYS``, not after ``as_of``)
    uses the (generated_at, instrument) index; the kernel applies each row's own horizon.
    The agent's *current* weight is used, so a weight change applies at once.
    """
    qs = Signal.objects.filter(
        generated_at__lte=as_of, generated_at__gte=as_of - timedelta(days=MAX_HORIZON_DAYS), agent__enabled=True
    )
    if agent_ids is not None:
        qs = qs.filter(agent_id__in=agent_ids)
    if exclude_shadow:  # an agent in shadow mode (risk_app.AgentRollout) is stored, never aggregated for live books
        qs = qs.exclude(agent__rollout__mode="shadow")
    rows = list(
        qs.values_list(
            "instrument__symbol", "agent__name", Cast("score", FloatField()), Cast("confidence", FloatField()),
            Cast("agent__weight", FloatField()), "generated_at", Cast("horizon_days", FloatField()),
        )
    )
    n = len(rows)
    cols = list(zip(*rows)) if rows else [()] * 7
    return dict(
        symbols=np.array(cols[0], dtype=object),
        agents=np.array(cols[1], dtype=object),
        scores=np.fromiter(cols[2], dtype=np.float64, count=n),
        confidences=np.fromiter(cols[3], dtype=np.float64, count=n),
        weights=np.fromiter(cols[4], dtype=np.float64, count=n),
        generated_at_epoch_s=np.fromiter((g.timestamp() for g in cols[5]), dtype=np.float64, count=n),
        horizon_s=np.fromiter(cols[6], dtype=np.float64, count=n) * SECONDS_PER_DAY,
    )


@dataclass(frozen=True)
class ViewsResult:
    as_of: datetime
    method: str
    half_life_days: float | None
    bl_scale: float
    table: ViewTable

    def views(self) -> dict[str, View]:
        return self.table.to_views()

    def bl_views(self) -> tuple[dict[str, float], dict[str, float]]:
        """Black-Litterman absolute views (expected annual excess return) and confidences (``views_to_bl``)."""
        return views_to_bl(self.views(), self.bl_scale)


def views_as_of(as_of: datetime | None = None, method: str | None = None, *,
                agent_ids: list[int] | None = None, exclude_shadow: bool = True) -> ViewsResult:
    """One view per instrument from the live signals at ``as_of`` (default: the market clock's now).

    ``method`` defaults to ``settings.DESK_AGGREGATION["method"]``; raises
    ``LookupError`` for an unknown one. ``agent_ids`` restricts the inputs
    (an API client's aggregates cover only its own agents).
    """
    cfg = settings.DESK_AGGREGATION
    if as_of is None:
        from market_app.clock import get_clock

        as_of = get_clock().market_now()
    method = method or cfg["method"]
    half_life = cfg.get("half_life_days")
    aggregator = get_aggregator(method, half_life_days=half_life)
    columns = live_signal_columns(as_of, agent_ids=agent_ids, exclude_shadow=exclude_shadow)
    if hasattr(aggregator, "aggregate_table"):
        table = aggregator.aggregate_table(as_of_epoch_s=as_of.timestamp(), **columns)
    else:
        table = _table_from_views(aggregator.aggregate(_records(columns), as_of))
    return ViewsResult(as_of, method, half_life, float(cfg.get("bl_scale", 0.10)), table)


def _records(columns: dict[str, Any]) -> list[SignalRecord]:
    """Columns -> records, for a plugin aggregator that only implements ``aggregate``."""
    from datetime import timezone

    return [
        SignalRecord(agent=a, symbol=s, score=float(sc), confidence=float(c),
                     generated_at=datetime.fromtimestamp(t, tz=timezone.utc), horizon_days=float(h) / SECONDS_PER_DAY,
                     agent_weight=float(w))
        for s, a, sc, c, w, t, h in zip(*columns.values())
    ]


def _table_from_views(views: dict[str, View]) -> ViewTable:
    items = sorted(views.values(), key=lambda v: v.symbol)
    contrib = [(k, agent, value) for k, v in enumerate(items) for agent, value in sorted(v.contributions.items())]
    return ViewTable(
        symbols=np.array([v.symbol for v in items], dtype=object),
        score=np.array([v.score for v in items], dtype=float),
        confidence=np.array([v.confidence for v in items], dtype=float),
        n_signals=np.zeros(len(items), dtype=np.int64),
        contrib_symbol=np.array([c[0] for c in contrib], dtype=np.int64),
        contrib_agent=np.array([c[1] for c in contrib], dtype=object),
        contrib_value=np.array([c[2] for c in contrib], dtype=float),
    )


def agent_price_frame(*, as_of: date | datetime, symbols: list[str] | None = None, days: int | None = None) -> pd.DataFrame:
    """Daily closes (dates x symbols, floats) of tradable instruments known at ``as_of``.

    A ``date`` means after that session's close; an aware datetime before 16:00
    New York does not know its own day's close yet (``agents.prices_as_of``).
    Nothing dated later is even read: a computed agent cannot see the future.
    ``days`` calendar days of history (default ``settings.DESK_AGENT_PRICE_DAYS``).
    """
    from market_app.models import PriceBar

    last = as_of.astimezone(NEW_YORK).date() if isinstance(as_of, datetime) else as_of
    start = last - timedelta(days=days or settings.DESK_AGENT_PRICE_DAYS)
    qs = PriceBar.objects.filter(date__lte=last, date__gte=start)
    qs = qs.filter(instrument__symbol__in=symbols) if symbols else qs.filter(instrument__tradable=True)
    rows = list(qs.values_list("date", "instrument__symbol", Cast("close", FloatField())))
    if not rows:
        return pd.DataFrame(dtype=float)
    frame = pd.DataFrame(rows, columns=["date", "symbol", "close"]).pivot(index="date", columns="symbol", values="close")
    frame.index = pd.DatetimeIndex(frame.index)
    return prices_as_of(frame, as_of)


@dataclass
class AgentRow:
    agent: Agent
    signals_today: int
    signals_total: int


def agents_overview(*, user, market_date: date) -> list[AgentRow]:
    """The Agents page's table: each visible agent with its signal counts (one query)."""
    from datetime import datetime as dt
    from datetime import time

    start = dt.combine(market_date, time(0), tzinfo=NEW_YORK)
    end = start + timedelta(days=1)
    qs = agents_visible_to(user).select_related("owner").annotate(
        today=Count("signals", filter=Q(signals__generated_at__gte=start, signals__generated_at__lt=end)),
        total=Count("signals"),
    )
    return [AgentRow(a, a.today, a.total) for a in qs.order_by("name")]


def latest_signals(*, user, limit: int = 50) -> list[Signal]:
    return list(signals_visible_to(user).select_related("agent", "instrument").order_by("-received_at", "-id")[:limit])


def agent_versions(agent_id: int):
    """An agent's configuration versions, newest first, with who made each."""
    from signals_app.models import AgentVersion

    return AgentVersion.objects.filter(agent_id=agent_id).select_related("actor").order_by("-number")
