"""How the Risk page reads thresholds and utilisation."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def threshold(value, unit):
    """A threshold in its kind's unit: USD 1,000,000 / 10% NAV / 5% / 2 s / 20 /s / 1,000 sh."""
    if value is None:
        return "—"
    d = Decimal(str(value))
    if unit == "USD":
        return f"{d:,.0f} USD"
    if unit == "fraction":
        return f"{d * 100:.4g}% NAV"
    if unit == "pct":
        return f"{d:.4g}%"
    if unit == "seconds":
        return f"{d:.4g} s"
    if unit == "per_second":
        return f"{d:.4g} /s"
    if unit == "shares":
        return f"{d:,.0f} sh"
    return "list"


@register.filter
def util_pct(value):
    return "—" if value is None else f"{float(value) * 100:.0f}%"


@register.filter
def util_class(value):
    if value is None:
        return "u-none"
    v = float(value)
    return "u-over" if v > 1.0 else "u-high" if v >= 0.8 else "u-ok"


@register.filter
def plain(value):
    """A Decimal-as-string without trailing zeros, for an input's value."""
    if value is None or value == "":
        return ""
    return format(Decimal(str(value)).normalize(), "f")


@register.filter
def getitem(mapping, key):
    return (mapping or {}).get(key)


@register.filter
def fmt_figure(value, fmt):
    if value is None:
        return "—"
    v = float(value)
    if fmt == "money":
        return f"{v:,.0f}"
    if fmt == "pct":
        return f"{v * 100:.2f}%"
    if fmt == "x":
        return f"{v:.2f}x"
    return f"{v:,.2f}"
