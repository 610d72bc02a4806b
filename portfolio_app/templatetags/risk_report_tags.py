"""Formatting of a proposal's stored risk report (the numbers come computed; only bar widths here)."""

from __future__ import annotations

from django import template

register = template.Library()

KIND_LABELS = {
    "max_weight": "at its cap", "min_weight": "at its floor", "sector_cap": "sector at its cap",
    "sector_floor": "sector at its floor", "gross_limit": "gross limit", "long_only": "long-only (not held)",
}


@register.filter
def risk_bars(report, limit: int = 25):
    """Rows for the contribution chart: each holding's contribution to volatility before and after,
    as bar widths (0-100) on one scale, largest first."""
    rows = list((report or {}).get("contributions") or [])[: int(limit)]
    top = max([abs(r.get("before") or 0.0) for r in rows] + [abs(r.get("after") or 0.0) for r in rows] + [1e-12])
    return [
        {**r, "before_w": round(100 * abs(r.get("before") or 0.0) / top, 2),
         "after_w": round(100 * abs(r.get("after") or 0.0) / top, 2)}
        for r in rows
    ]


@register.filter
def binding_label(kind: str) -> str:
    return KIND_LABELS.get(kind, str(kind).replace("_", " "))
