"""Optimisation core: max Sharpe on the demo stocks, every strategy at 500 instruments.

Pure core, no database. Prices for the large universes come from a seeded factor
model (3 factors plus idiosyncratic noise), so every run measures the same problem.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from portfolio_app.optimisation import STRATEGIES, PortfolioOptimiser

WINDOW = 756  # 3 years of sessions


def factor_model_prices(n_assets: int, n_days: int = WINDOW + 1, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    factors = rng.normal(0.0003, 0.01, size=(n_days - 1, 3))
    loadings = rng.normal(1.0, 0.5, size=(3, n_assets)) * np.array([[1.0], [0.4], [0.3]])
    alpha = rng.normal(0.0002, 0.0004, size=n_assets)
    noise = rng.normal(0.0, 0.015, size=(n_days - 1, n_assets))
    returns = alpha + factors @ loadings + noise
    closes = 50.0 * np.vstack([np.ones(n_assets), np.cumprod(1.0 + returns, axis=0)])
    index = pd.bdate_range("2020-01-02", periods=n_days)
    return pd.DataFrame(closes, index=index, columns=[f"S{i:03d}" for i in range(n_assets)])


def _time(fn, repeat: int) -> float:
    fn()  # warm: imports, solver set-up, compiled problem cache
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _optimise(opt: PortfolioOptimiser, prices: pd.DataFrame):
    return lambda: opt.optimise(prices=prices, views={}, current_weights={}, constraints={})


def _params(strategy: str) -> dict:
    return {"target_volatility": 0.20, "target_return": 0.15} if strategy.startswith("efficient") else {}


def run() -> list[dict]:
    from skfolio.datasets import load_sp500_dataset

    out = []
    demo = load_sp500_dataset()
    ms = _time(_optimise(PortfolioOptimiser("max_sharpe", {"lookback_days": WINDOW}), demo), 20) * 1e3
    out.append(
        {"name": "optimisation.max_sharpe_20_demo_warm", "value": round(ms, 2), "unit": "ms", "goal": "<= 20",
         "note": "skfolio S&P 500 demo, 3-year window, Ledoit-Wolf, CLARABEL; includes estimation"}
    )
    big = factor_model_prices(500)
    # The reference: the estimates every strategy starts from (window, Ledoit-Wolf, mean returns), same run.
    est_s = _time(lambda: PortfolioOptimiser("max_sharpe").estimates(big), 3)
    out.append({"name": "optimisation.estimates_500", "value": round(est_s, 3), "unit": "s",
                "note": "reference: price window + Ledoit-Wolf covariance + mean returns, 500 instruments"})
    for strategy in STRATEGIES:
        if strategy == "cla":
            continue
        opt = PortfolioOptimiser(strategy, _params(strategy))
        cpu0 = time.process_time()
        s = _time(_optimise(opt, big), 2)
        cpu_ms = (time.process_time() - cpu0) * 1000 / 3
        out.append({"name": f"optimisation.{strategy}_500", "value": round(s, 3), "unit": "s", "goal": "<= 0.5",
                    "ratio": round(s / est_s, 2), "ref": "estimates alone",
                    "note": "500 factor-model instruments, 756 sessions" + (", no views" if strategy == "black_litterman" else "")
                            + f"; {cpu_ms:.0f} CPU-ms a call (mean of 3)"})
    rng = np.random.default_rng(3)
    from desk.interfaces import View

    views = {f"S{i:03d}": View(f"S{i:03d}", float(rng.uniform(-1, 1)), float(rng.uniform(0.2, 0.9))) for i in range(0, 500, 5)}
    opt = PortfolioOptimiser("black_litterman")
    s = _time(lambda: opt.optimise(prices=big, views=views, current_weights={}, constraints={}), 2)
    out.append({"name": "optimisation.black_litterman_500_100_views", "value": round(s, 3), "unit": "s", "goal": "<= 0.5"})
    mid = factor_model_prices(100)
    s = _time(_optimise(PortfolioOptimiser("cla"), mid), 2)
    out.append({"name": "optimisation.cla_100", "value": round(s, 3), "unit": "s", "goal": "<= 0.5",
                "note": "critical line, max-Sharpe point"})
    return out


if __name__ == "__main__":
    for row in run():
        print(row)
