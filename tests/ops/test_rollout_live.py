"""The automatic rollback on the real stack: the ASGI server, a Celery worker and beat as
subprocesses, Redis as the broker, the test database. A rollout is in canary (signed off by a
second person); the canary and the incumbent trade alike and nothing happens; a slippage spike
is injected into the canary's fills; beat's next evaluation of the rollout rule rolls it back,
with an alert saying why, and the API shows it."""

from __future__ import annotations

import time

import pytest

from tests.ops.test_rollout import CANDIDATE, SHARPE, filled_parent, to_canary

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def wait_for(fn, *, timeout: float, message: str, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")


def _evaluations_after(t: float) -> bool:
    from desk.redis import get_redis
    from ops_app.alert_rules.rules import LAST_KEY

    return float(get_redis().get(LAST_KEY) or 0) > t


def test_rollout_canary_when_slippage_spike_injected_then_beat_rolls_it_back_with_an_alert(
        desk_admin, risk_officer):
    from market_app.models import Instrument
    from ops_app.models import AlertRule, Rollout
    from ops_app.rollout import stages
    from portfolio_app.models import Portfolio
    from risk_app.models import Alert
    from tests.faults.harness import Api, token_for

    canary_book = Portfolio.objects.create(name="Canary Book", cash="1000000.00", **SHARPE)
    incumbent_book = Portfolio.objects.create(name="Incumbent Book", cash="1000000.00", **SHARPE)
    acme = Instrument.objects.create(symbol="ACME", sector="Industrials", adv=1_000_000)
    AlertRule.objects.create(name="Canary slippage (live test)", kind=AlertRule.Kind.ROLLOUT_SLIPPAGE, threshold=25,
                             severity="critical")
    rollout = stages.rollout_create(actor=desk_admin, name="MinVol", portfolio_ids=[canary_book.pk, incumbent_book.pk],
                                    candidate=CANDIDATE, reason="lower vol", min_sample=3, min_window_minutes=0,
                                    shadow_now=False)
    to_canary(desk_admin, risk_officer, rollout, [canary_book])
    for k in range(3):  # both sides trade alike: the comparison is ready and within the rule
        filled_parent(incumbent_book, acme, f"i{k}", arrival="100", px="100.02")
        filled_parent(canary_book, acme, f"c{k}", arrival="100", px="100.03")

    from tests.live_stack import LiveStack

    with LiveStack(extra_env={"DESK_ALERT_EVAL_SECONDS": "1"}) as stack:
        start = time.time()
        wait_for(lambda: _evaluations_after(start + 2), timeout=60, message="beat's evaluations on the worker")
        assert Rollout.objects.get(pk=rollout.pk).stage == "canary"

        # Act: the slippage spike, through the order services (filled 120 bps worse than arrival), in one
        # transaction so that an evaluation sees all of it or none.
        from django.db import transaction

        with transaction.atomic():
            for k in range(3):
                filled_parent(canary_book, acme, f"spike{k}", arrival="100", px="101.20")

        rolled = wait_for(lambda: Rollout.objects.filter(pk=rollout.pk, stage="rolled_back").first(), timeout=60,
                          message="the automatic rollback")
        assert rolled.ended_by is None and "alert rule 'Canary slippage (live test)'" in rolled.ended_reason
        alert = Alert.objects.get(key=f"rollout:{rollout.pk}:rolled_back")
        assert alert.severity == "critical" and "rolled back automatically from canary" in alert.message
        assert "canary slippage 61.5 bps against the incumbent's 2.0 bps" in alert.message
        canary_book.refresh_from_db()
        incumbent_book.refresh_from_db()
        assert (canary_book.strategy, incumbent_book.strategy) == ("max_sharpe", "max_sharpe")
        status, body = Api(stack.url, token_for(risk_officer)).call("GET", f"/api/v1/rollouts/{rollout.pk}/")
        assert status == 200 and body["stage"] == "rolled_back" and body["comparison"]["canary"]["orders"] == 6
