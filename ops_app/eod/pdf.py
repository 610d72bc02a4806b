"""The end-of-day report as a PDF (reportlab: pure Python, no system libraries).

Rendered from the stored content alone, with reportlab's invariant mode (no creation date, a fixed
document id), so the same report gives the same bytes every time it is downloaded.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, TableStyle

from ops_app.eod import core
from ops_app.eod.fmt import display_time

SUMMARY_LABELS = {
    "nav": "NAV", "cash": "Cash", "gross": "Gross", "net": "Net", "positions": "Positions",
    "prev_session": "Previous session", "prev_nav": "Previous NAV", "pnl_daily": "P&L day", "pnl_daily_pct": "P&L day %",
    "mtd_base_session": "MTD base session", "mtd_base_nav": "MTD base NAV", "pnl_mtd": "P&L MTD", "pnl_mtd_pct": "P&L MTD %",
    "ytd_base_session": "YTD base session", "ytd_base_nav": "YTD base NAV", "pnl_ytd": "P&L YTD", "pnl_ytd_pct": "P&L YTD %",
    "realised_today": "Realised today", "fees_today": "Fees today", "fills": "Fills", "orders": "Orders",
    "filled_notional": "Filled notional", "denied": "Denied orders", "breaches": "Breaches", "open_breaks": "Open breaks",
}

_GRID = TableStyle([
    ("FONT", (0, 0), (-1, -1), "Helvetica", 6.5),
    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 6.5),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf1")),
    ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.HexColor("#8a96a3")),
    ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f8fa")]),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
])


def to_pdf(content: Mapping[str, Any], *, report: Mapping[str, str]) -> bytes:
    """Title, the report's identity (version, content hash), the summary, then every table."""
    styles = getSampleStyleSheet()
    cell = ParagraphStyle("cell", parent=styles["BodyText"], fontName="Helvetica", fontSize=6.5, leading=7.5)
    meta, summary = content["meta"], content["summary"]
    buf = io.BytesIO()
    title = f"End-of-day report: {meta['portfolio']}, session {meta['session']}"
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm, topMargin=10 * mm,
                            bottomMargin=10 * mm, title=title, author="Execution Desk", invariant=1)
    story: list = [Paragraph(title, styles["Title"])]
    ident = (f"Version {report.get('version', '')} · {report.get('trigger', '')} · generated {report.get('created_at', '')} · "
             f"close {meta['market_close']} · currency {meta['currency']}<br/>SHA-256 {report.get('content_hash', '')}")
    story += [Paragraph(ident, styles["BodyText"]), Spacer(1, 3 * mm), Paragraph("Summary", styles["Heading2"])]
    pairs = [(SUMMARY_LABELS.get(k, k), v or "—") for k, v in summary.items()]
    rows = [["Figure", "Value", "Figure", "Value", "Figure", "Value"]]
    for i in range(0, len(pairs), 3):
        chunk = pairs[i:i + 3] + [("", "")] * (3 - len(pairs[i:i + 3]))
        rows.append([x for pair in chunk for x in pair])
    t = LongTable(rows, repeatRows=1, colWidths=[doc.width / 6] * 6)
    t.setStyle(_GRID)
    story.append(t)
    for key, heading, cols in core.TABLES:
        data = content["tables"][key]
        story += [Spacer(1, 3 * mm), Paragraph(f"{heading} ({len(data)})", styles["Heading3"])]
        if not data:
            story.append(Paragraph("None.", styles["BodyText"]))
            continue
        rows = [list(cols)] + [[Paragraph(_esc(_short(c, r[c])), cell) for c in cols] for r in data]
        t = LongTable(rows, repeatRows=1, colWidths=_widths(cols, data, doc.width))
        t.setStyle(_GRID)
        story.append(t)
    doc.build(story)
    return buf.getvalue()


def _widths(cols, data, total: float) -> list[float]:
    """Columns as wide as their longest value (capped, so free text wraps), scaled to the page."""
    want = [min(max([len(c)] + [len(_short(c, r[c])) for r in data]), 48) + 2 for c in cols]
    return [total * w / sum(want) for w in want]


def _short(col: str, value: str) -> str:
    """Times as New York wall-clock time (the session's date is the report's); the CSV keeps them in full."""
    return display_time(value) if col in ("time", "found") else value


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
