"""Gradual rollout: a portfolio or an agent runs in *shadow* before it goes live.

- A portfolio in shadow: its proposals are computed and recorded as SHADOW, never sent
  for approval (``portfolio_app.services.proposal_compute`` reads ``Portfolio.mode``).
- An agent in shadow: its signals are stored as usual but left out of the aggregation
  that live portfolios use (``signal_selectors.live_signal_columns(exclude_shadow=True)``).

Only admins switch; every switch is audited in ``risk_app.ModeChange`` (who, when, from,
to, why).  Services first, then the API views (``PATCH /api/v1/portfolios/{id}/mode/``,
``PATCH /api/v1/agents/{id}/mode/``).
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from desk.errors import Forbidden, Invalid
from desk import roles

MODES = ("live", "shadow")


class RolloutError(Invalid):
    """A rollout switch that cannot be made."""


class RolloutForbidden(RolloutError):
    """Only admins switch modes."""

    code, status = Forbidden.code, Forbidden.status


def _check(actor, mode: str) -> None:
    if not roles.is_admin(actor):
        raise RolloutForbidden("Only admins switch a portfolio or an agent between live and shadow.")
    if mode not in MODES:
        raise RolloutError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")


@transaction.atomic
def portfolio_mode_set(*, actor, portfolio_id: int, mode: str, reason: str = ""):
    """Switch a portfolio live <-> shadow (locks its row); a no-op switch records nothing."""
    from portfolio_app.models import Portfolio
    from ops_app.models import ModeChange

    _check(actor, mode)
    p = Portfolio.objects.select_for_update().get(pk=portfolio_id)
    if p.mode != mode:
        ModeChange.objects.create(target="portfolio", target_id=p.pk, target_name=p.name, from_mode=p.mode, to_mode=mode,
                                  actor=actor, reason=reason)
        p.mode = mode
        p.save(update_fields=["mode"])
    return p


@transaction.atomic
def agent_mode_set(*, actor, agent_id: int, mode: str, reason: str = ""):
    """Switch an agent live <-> shadow (locks its rollout row); a no-op switch records nothing."""
    from signals_app.models import Agent
    from ops_app.models import ModeChange
    from signals_app.models import AgentRollout

    _check(actor, mode)
    agent = Agent.objects.get(pk=agent_id)
    rollout, _ = AgentRollout.objects.get_or_create(agent=agent)
    rollout = AgentRollout.objects.select_for_update().get(pk=rollout.pk)
    if rollout.mode != mode:
        ModeChange.objects.create(target="agent", target_id=agent.pk, target_name=agent.name, from_mode=rollout.mode,
                                  to_mode=mode, actor=actor, reason=reason)
        rollout.mode = mode
        rollout.save(update_fields=["mode", "updated_at"])
    return rollout


def agent_modes() -> dict[int, str]:
    from signals_app.models import AgentRollout

    return dict(AgentRollout.objects.values_list("agent_id", "mode"))


def mode_changes(limit: int = 20):
    from ops_app.models import ModeChange

    return ModeChange.objects.select_related("actor")[:limit]


# --- API ----------------------------------------------------------------------------------------


class ModeInput(serializers.Serializer):
    mode = serializers.ChoiceField(choices=MODES)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


ModeOutput = inline_serializer("ModeOutput", {"id": serializers.IntegerField(), "mode": serializers.CharField()})


class _ModeView(APIView):
    permission_classes = [roles.IsAdmin]

    def _switch(self, request, fn, **ids):
        data = ModeInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            obj = fn(actor=request.user, mode=data.validated_data["mode"], reason=data.validated_data["reason"], **ids)
        except RolloutForbidden as exc:
            return Response({"detail": str(exc)}, status=403)
        except RolloutError as exc:
            return Response({"detail": str(exc)}, status=400)
        except Exception as exc:
            if type(exc).__name__ == "DoesNotExist":
                return Response({"detail": "Not found."}, status=404)
            raise
        return Response({"id": next(iter(ids.values())), "mode": obj.mode})


class PortfolioModeView(_ModeView):
    """Switch a portfolio between live and shadow (admins; audited)."""

    @extend_schema(request=ModeInput, responses=ModeOutput)
    def patch(self, request, portfolio_id: int):
        return self._switch(request, portfolio_mode_set, portfolio_id=portfolio_id)


class AgentModeView(_ModeView):
    """Switch an agent between live and shadow (admins; audited)."""

    @extend_schema(request=ModeInput, responses=ModeOutput)
    def patch(self, request, agent_id: int):
        return self._switch(request, agent_mode_set, agent_id=agent_id)
