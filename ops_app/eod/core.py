"""The end-of-day report as plain data: its sections, its content hash, and its CSV (pure).

A report's content is a dict of strings only (money, quantities and ratios already formatted
by ``ops_app.eod.content``; a missing figure is ""), so its canonical JSON is the same in every
process and after a round trip through the database's JSON column, and the CSV round-trips to
the same dict.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from typing import Any

FORMAT = "1"

# (key, title, fields) of the scalar sections, in the order the page, CSV and PDF show them.
META_FIELDS = ("scope", "scope_key", "portfolio", "session", "market_open", "market_close", "wall_start", "wall_end",
               "currency")
SUMMARY_FIELDS = (
    "nav", "cash", "gross", "net", "positions", "prev_session", "prev_nav", "pnl_daily", "pnl_daily_pct",
    "mtd_base_session", "mtd_base_nav", "pnl_mtd", "pnl_mtd_pct", "ytd_base_session", "ytd_base_nav", "pnl_ytd",
    "pnl_ytd_pct", "realised_today", "fees_today", "fills", "orders", "filled_notional", "denied", "breaches",
    "open_breaks",
)

# (key, title, columns) of the tables.
TABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("positions", "Positions at the close",
     ("portfolio", "symbol", "quantity", "avg_cost", "mark", "market_value", "weight_pct", "unrealised_pnl", "realised_pnl")),
    ("orders", "Orders of the day (the blotter)",
     ("portfolio", "client_order_id", "symbol", "side", "quantity", "filled_qty", "avg_px", "algo", "status",
      "arrival_px", "slippage_bps")),
    ("fills", "Fills",
     ("portfolio", "time", "trade_id", "client_order_id", "symbol", "side", "quantity", "price", "venue", "commission",
      "liquidity", "realised_pnl")),
    ("tca_venue", "TCA by venue",
     ("venue", "orders", "fills", "filled_qty", "notional", "fees", "fees_bps", "slippage_arrival_bps", "slippage_vwap_bps")),
    ("tca_algo", "TCA by algo",
     ("algo", "orders", "fills", "filled_qty", "notional", "fees", "fees_bps", "slippage_arrival_bps", "slippage_vwap_bps",
      "fill_rate_pct")),
    ("limits", "Limit utilisation at the close",
     ("portfolio", "limit", "kind", "scope", "threshold", "action", "utilisation_pct", "over")),
    ("breaches", "Limit breaches of the day",
     ("portfolio", "time", "client_order_id", "symbol", "side", "quantity", "passed", "limits")),
    ("denied", "Denied orders",
     ("portfolio", "time", "client_order_id", "symbol", "side", "quantity", "reason")),
    ("overrides", "Overrides (kill-switch changes)",
     ("time", "scope", "from_state", "to_state", "actor", "confirmed_by", "reason")),
    ("approvals", "Approvals and rejections",
     ("portfolio", "time", "proposal", "from_status", "to_status", "actor", "reason")),
    ("limit_changes", "Limit changes",
     ("time", "limit", "change", "who", "approved_by", "before", "after", "why")),
    ("recon_breaks", "Open reconciliation breaks",
     ("id", "found", "venue", "kind", "order", "what")),
)
TABLE_COLUMNS = {k: cols for k, _, cols in TABLES}


def canonical_json(content: Mapping[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON: what makes a stored report checkable."""
    return hashlib.sha256(canonical_json(content)).hexdigest()


def check_content(content: Mapping[str, Any]) -> None:
    """Raises ValueError unless ``content`` has every section, column and only string values."""
    if content.get("format") != FORMAT:
        raise ValueError("unknown report format")
    for name, fields in (("meta", META_FIELDS), ("summary", SUMMARY_FIELDS)):
        section = content.get(name) or {}
        if tuple(section) != fields or not all(isinstance(v, str) for v in section.values()):
            raise ValueError(f"section {name}: fields or values not as the format says")
    tables = content.get("tables") or {}
    if tuple(tables) != tuple(TABLE_COLUMNS):
        raise ValueError("tables not as the format says")
    for name, cols in TABLE_COLUMNS.items():
        for row in tables[name]:
            if tuple(row) != cols or not all(isinstance(v, str) for v in row.values()):
                raise ValueError(f"table {name}: a row's columns or values not as the format says")


def to_csv(content: Mapping[str, Any], *, report: Mapping[str, str]) -> str:
    """One CSV of every section: a ``section,<name>`` line, then ``field,value`` rows (scalar sections)
    or a header and the rows (tables), a blank line between sections. ``report``: version, hash, times."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", "report"])
    w.writerow(["field", "value"])
    for k, v in report.items():
        w.writerow([k, v])
    for name in ("meta", "summary"):
        w.writerow([])
        w.writerow(["section", name])
        w.writerow(["field", "value"])
        for k, v in content[name].items():
            w.writerow([k, v])
    for name, cols in TABLE_COLUMNS.items():
        w.writerow([])
        w.writerow(["section", name])
        w.writerow(list(cols))
        for row in content["tables"][name]:
            w.writerow([row[c] for c in cols])
    return out.getvalue()


def from_csv(text: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The inverse of ``to_csv``: (report fields, content)."""
    blocks: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for row in csv.reader(io.StringIO(text)):
        if not row:
            current = None
            continue
        if current is None:
            if len(row) != 2 or row[0] != "section":
                raise ValueError(f"expected a section line, got {row!r}")
            current = blocks.setdefault(row[1], [])
            continue
        current.append(row)

    def scalars(name: str) -> dict[str, str]:
        rows = blocks.get(name)
        if not rows or rows[0] != ["field", "value"]:
            raise ValueError(f"section {name} missing or without its header")
        return {k: v for k, v in rows[1:]}

    content: dict[str, Any] = {"format": FORMAT, "meta": scalars("meta"), "summary": scalars("summary"), "tables": {}}
    for name, cols in TABLE_COLUMNS.items():
        rows = blocks.get(name)
        if not rows or tuple(rows[0]) != cols:
            raise ValueError(f"table {name} missing or with other columns")
        content["tables"][name] = [dict(zip(cols, r)) for r in rows[1:]]
    return scalars("report"), content
