"""Number formatting the way a blotter shows it: thousands separators, fixed places, signs."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


def _dec(value):
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value)) + 0  # + 0 turns -0.00 into 0.00: no "-0" on the page
    except (InvalidOperation, ValueError):
        return None


@register.filter
def money(value):
    d = _dec(value)
    return "—" if d is None else f"{d:,.2f}"


@register.filter
def money0(value):
    """Whole dollars, for figures whose cents are noise (VaR, limits)."""
    d = _dec(value)
    return "—" if d is None else f"{d:,.0f}"


@register.filter
def signed_money(value):
    d = _dec(value)
    return "—" if d is None else f"{d:+,.2f}"


@register.filter
def px(value):
    d = _dec(value)
    if d is None:
        return "—"
    # Six places only where the price needs them (adjusted history under a dollar).
    return f"{d:,.2f}" if d == d.quantize(Decimal("0.01")) or abs(d) >= 1 else f"{d:,.6f}"


@register.filter
def qty(value):
    d = _dec(value)
    if d is None:
        return "—"
    return f"{d:,.0f}" if d == d.to_integral_value() else f"{d:,.4f}"


@register.filter
def pct(value, places=1):
    d = _dec(value)
    return "—" if d is None else f"{d * 100:.{int(places)}f}%"


@register.filter
def pct_of(value, total):
    d, t = _dec(value), _dec(total)
    if d is None or not t:
        return "—"
    return f"{d / t * 100:.1f}%"


@register.filter
def signclass(value):
    d = _dec(value)
    if d is None or d == 0:
        return ""
    return "pos" if d > 0 else "neg"


@register.filter
def signed_pct(value, places=2):
    d = _dec(value)
    return "—" if d is None else f"{d * 100:+.{int(places)}f}%"


@register.filter
def deskdt(value, fmt="Y-m-d H:i:s"):
    """A datetime in the desk's display time zone (settings.DESK_DISPLAY_TZ), Django date format.

    Stored times are UTC; every page shows them the way the frame's clock does (live.js fmtTime).
    """
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from django.conf import settings
    from django.utils.dateformat import format as date_format

    if not isinstance(value, datetime):
        return "—" if value in (None, "") else value
    if value.tzinfo is None:  # naive values are UTC by the desk's convention
        from datetime import timezone as dt_timezone

        value = value.replace(tzinfo=dt_timezone.utc)
    local = value.astimezone(ZoneInfo(settings.DESK_DISPLAY_TZ))
    if "v" in fmt:  # milliseconds, as the fills ticker shows them (digits pass through the formatter)
        fmt = fmt.replace("v", f"{local.microsecond // 1000:03d}")
    return date_format(local, fmt)


@register.simple_tag
def desk_tz_abbr(value=None):
    """The display zone's abbreviation at ``value`` (EST/EDT), for column headers."""
    from datetime import datetime, timezone as dt_timezone
    from zoneinfo import ZoneInfo

    from django.conf import settings

    at = value if isinstance(value, datetime) else datetime.now(dt_timezone.utc)
    return at.astimezone(ZoneInfo(settings.DESK_DISPLAY_TZ)).tzname()
