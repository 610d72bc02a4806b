"""Weights that need no solver (so no cvxpy or PyPortfolioOpt import): a backtest of them starts fast."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def equal_weight(symbols: Sequence[str]) -> np.ndarray:
    return np.full(len(symbols), 1.0 / len(symbols))
