"""Labels for the portfolio pages: the desk's config words as a trader reads them."""

from __future__ import annotations

from django import template

register = template.Library()

LABELS = {
    "max_sharpe": "Max Sharpe", "min_volatility": "Min volatility", "equal_weight": "Equal weight",
    "efficient_risk": "Efficient risk", "efficient_return": "Efficient return", "hrp": "Hierarchical risk parity",
    "cla": "Critical line", "black_litterman": "Black-Litterman", "ledoit_wolf": "Ledoit-Wolf",
    "sample": "Sample covariance", "exp_cov": "Exponential covariance", "mean_historical": "Mean historical",
    "ema": "EMA returns", "capm": "CAPM",
}


@register.filter
def label(value):
    text = str(value or "")
    return LABELS.get(text, text.replace("_", " ").capitalize())
