"""Server-drawn SVG line charts for the Backtests pages and the tear sheet (no script needed to see them).

``line_chart`` scales any number of series over shared dates into ``path``
strings plus a few axis labels; the template draws them with presentation
attributes only (no inline style, so the content security policy holds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np

PALETTE = ("#1f5fbf", "#69707a", "#0a7a3d", "#c0262d", "#b76e00", "#6a3fb5")
MAX_POINTS = 600


def _fmt(v: float, kind: str) -> str:
    if kind == "pct":
        return f"{v * 100:.0f}%"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.2f}"


def line_chart(
    dates: Sequence[date],
    series: Mapping[str, Sequence[float | None]],
    *,
    width: int = 720,
    height: int = 220,
    kind: str = "money",
    baseline: float | None = None,
) -> dict[str, Any]:
    """``{"width", "height", "lines": [{name, d, color}], "yticks": [{y, label}], "xticks": [...]}``."""
    pad_l, pad_r, pad_t, pad_b = 52, 8, 8, 20
    n = len(dates)
    out: dict[str, Any] = {"width": width, "height": height, "lines": [], "yticks": [], "xticks": []}
    if n < 2 or not series:
        return out
    idx = np.unique(np.linspace(0, n - 1, min(n, MAX_POINTS)).round().astype(int))
    arrays = {k: np.array([np.nan if v is None else float(v) for v in vals], dtype=float)[idx]
              for k, vals in series.items()}
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays.values()] + [np.array([baseline] if baseline is not None else [])])
    if finite.size == 0:
        return out
    lo, hi = float(finite.min()), float(finite.max())
    if hi == lo:
        hi = lo + 1.0
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    xs = pad_l + w * (idx / (n - 1))

    def y_of(v):
        return pad_t + h * (1.0 - (v - lo) / (hi - lo))

    for k, (name, arr) in enumerate(arrays.items()):
        parts, pen = [], "M"
        for x, v in zip(xs, arr):
            if not np.isfinite(v):
                pen = "M"
                continue
            parts.append(f"{pen}{x:.1f},{y_of(v):.1f}")
            pen = "L"
        out["lines"].append({"name": name, "d": " ".join(parts), "color": PALETTE[k % len(PALETTE)]})
    for v in np.linspace(lo, hi, 4):
        out["yticks"].append({"y": round(y_of(v), 1), "label": _fmt(float(v), kind)})
    for i in np.linspace(0, n - 1, 5).round().astype(int):
        out["xticks"].append({"x": round(pad_l + w * i / (n - 1), 1), "label": dates[i].isoformat()})
    if baseline is not None:
        out["baseline"] = round(y_of(baseline), 1)
    out["plot"] = {"left": pad_l, "right": width - pad_r, "top": pad_t, "bottom": height - pad_b}
    return out


def drawdowns(values: Sequence[float | None]) -> list[float | None]:
    a = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    peak = np.fmax.accumulate(np.where(np.isfinite(a), a, -np.inf))
    with np.errstate(invalid="ignore", divide="ignore"):
        dd = a / peak - 1.0
    return [None if not np.isfinite(x) else float(x) for x in dd]
