"""The benchmark scenario: the capital held in the benchmark index over the run's dates (no trades, no costs).

With it every strategy run can be put side by side with "just buy the index"
on the same calendar; its own benchmark-relative metrics are the degenerate
ones (beta 1, tracking error 0), which the tests use as a check.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from desk.interfaces import ConfigError

from .config import ScenarioConfig
from .runner import ScenarioResult


def run_benchmark(benchmark: pd.Series, config: ScenarioConfig) -> ScenarioResult:
    from execution_app.scenarios.metrics import compute_metrics

    b = pd.Series(benchmark, dtype="float64").sort_index().loc[pd.Timestamp(config.start) : pd.Timestamp(config.end)]
    b = b.dropna()
    if len(b) < 2:
        raise ConfigError("start", "the benchmark has fewer than two closes in the period")
    cents = np.rint(float(config.capital) * 100.0 * b.to_numpy() / b.iloc[0]).astype(np.int64)
    result = ScenarioResult(
        config=config, kind="benchmark", fill_timing="none (index levels)", dates=[ts.date() for ts in b.index],
        equity_cents=cents, benchmark_cents=cents.copy(), trades=[], positions={}, metrics={}, rebalances=[],
        denied=[], bars=len(b), elapsed_s=0.0,
    )
    result.book_value = result.final_value
    result.metrics = compute_metrics(result.equity_series(), result.benchmark_series(), [])
    return result
