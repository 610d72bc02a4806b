"""Every optimisation strategy at 100 and 500 instruments: fast, or refused above its size limit.

Pure core, no database: the seeded factor-model prices of ``bench_optimisation``
(756 sessions), each strategy's whole ``optimise`` call (estimation included), best of
three after a warm-up. A strategy refused at a size (``limits.SIZE_LIMITS``) is timed
to its refusal, and the note says so: it never reaches a worker.
"""

from __future__ import annotations

import time

from desk.interfaces import ConfigError
from portfolio_app.optimisation import STRATEGIES, PortfolioOptimiser
from portfolio_app.optimisation.limits import SIZE_LIMITS

from .bench_optimisation import _optimise, _params, _time, factor_model_prices

SIZES = (100, 500)
GOALS = {"risk_parity": 0.5}


def _refusal(opt: PortfolioOptimiser, prices) -> tuple[float, str]:
    t = time.perf_counter()
    try:
        _optimise(opt, prices)()
    except ConfigError as e:
        return time.perf_counter() - t, f"refused: {e.reason.split(' (')[0]}"
    return time.perf_counter() - t, "not refused"


def run() -> list[dict]:
    out = []
    for n in SIZES:
        prices = factor_model_prices(n)
        for strategy in STRATEGIES:
            opt = PortfolioOptimiser(strategy, _params(strategy))
            limit = SIZE_LIMITS.get(strategy)
            if limit is not None and n > limit:
                s, note = _refusal(opt, prices)
            else:
                s, note = _time(_optimise(opt, prices), 3), f"{n} factor-model instruments, 756 sessions"
            out.append({"name": f"strategy.{strategy}_{n}", "value": round(s, 3), "unit": "s",
                        "goal": f"<= {GOALS.get(strategy, 1.0)}", "note": note})
    return out


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    for row in run():
        print(f"{row['name']:<32} {row['value']:>8.3f} s  {row['goal']:<7}  {row['note']}")
