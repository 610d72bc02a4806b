"""Bulk import of daily closes: CSV (``symbol,date,close``) or a pandas frame.

All or nothing: every row is validated first, and any bad row — with its line
number, field and reason — stops the import before a single bar is written. A bar
already stored for the same instrument and date is overwritten (a corrected close).
``price_bars_import`` is re-exported by ``portfolio_app.services``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from desk.money import price
from market_app.models import Instrument, PriceBar

COLUMNS = ("symbol", "date", "close")


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class PriceRow:
    line: int
    symbol: str
    date: date
    close: Decimal


class PriceImportError(ValueError):
    def __init__(self, errors: list[RowError]):
        self.errors = errors
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        super().__init__("; ".join(str(e) for e in errors[:10]) + more)


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    instruments: int = 0
    symbols: list[str] = field(default_factory=list)


def parse_row(line: int, symbol: Any, day: Any, close: Any, errors: list[RowError]) -> PriceRow | None:
    n = len(errors)
    symbol = "" if symbol is None else str(symbol).strip().upper()
    if not symbol:
        errors.append(RowError(line, "symbol", "is empty"))
    elif len(symbol) > 32:
        errors.append(RowError(line, "symbol", "is longer than 32 characters"))
    parsed_day = None
    if hasattr(day, "date") and callable(day.date):  # a pandas Timestamp or datetime
        parsed_day = day.date()
    elif isinstance(day, date):
        parsed_day = day
    else:
        try:
            parsed_day = date.fromisoformat(str(day).strip())
        except ValueError:
            errors.append(RowError(line, "date", f"{str(day)!r} is not a date (YYYY-MM-DD)"))
    value = None
    try:
        raw = Decimal(str(close).strip()) if not isinstance(close, float) else Decimal(repr(close))
        if isinstance(close, float) and not math.isfinite(close) or not raw.is_finite():
            raise InvalidOperation
        if raw <= 0:
            errors.append(RowError(line, "close", f"{close} is not a positive price"))
        else:
            value = price(raw)
    except (InvalidOperation, ValueError):
        errors.append(RowError(line, "close", f"{close!r} is not a number"))
    if len(errors) > n:
        return None
    return PriceRow(line, symbol, parsed_day, value)


def rows_from_csv(source: str | io.TextIOBase) -> tuple[list[PriceRow], list[RowError]]:
    """Rows of a ``symbol,date,close`` CSV with a header (any column order); line 1 is the header."""
    handle = io.StringIO(source) if isinstance(source, str) else source
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        return [], [RowError(1, "header", "the file is empty")]
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        return [], [RowError(1, "header", f"missing column(s) {', '.join(missing)}; expected symbol,date,close")]
    idx = [names.index(c) for c in COLUMNS]
    rows, errors = [], []
    for line, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if len(record) < len(names):
            errors.append(RowError(line, "row", f"has {len(record)} fields, the header {len(names)}"))
            continue
        row = parse_row(line, *(record[i] for i in idx), errors)
        if row is not None:
            rows.append(row)
    return rows, errors


def rows_from_frame(frame) -> tuple[list[PriceRow], list[RowError]]:
    """Rows of a pandas frame: long (columns symbol, date, close) or wide (dates x symbols).

    Line numbers count as in the CSV the frame would write: the header is line 1. In a
    wide frame a missing close (NaN) means "no bar", not an error.
    """
    rows, errors = [], []
    cols = [str(c).lower() for c in frame.columns]
    if all(c in cols for c in COLUMNS):
        data = frame.rename(columns=dict(zip(frame.columns, cols)))
        for k, (s, d, c) in enumerate(zip(data["symbol"], data["date"], data["close"]), start=2):
            row = parse_row(k, s, d, c, errors)
            if row is not None:
                rows.append(row)
        return rows, errors
    for k, (ts, values) in enumerate(frame.iterrows(), start=2):
        for symbol, close in values.items():
            if close is None or (isinstance(close, float) and math.isnan(close)):
                continue
            row = parse_row(k, symbol, ts, close, errors)
            if row is not None:
                rows.append(row)
    return rows, errors


def price_bars_import(*, rows: Iterable[PriceRow], errors: list[RowError] | None = None,
                      create_instruments: bool = False) -> ImportResult:
    """Store the rows in one transaction, or nothing: raises ``PriceImportError`` listing bad rows.

    Unknown symbols are errors unless ``create_instruments`` (then they are created as
    tradable equities). A symbol and date given twice is an error.
    """
    rows = list(rows)
    errors = list(errors or [])
    seen: dict[tuple[str, date], int] = {}
    for r in rows:
        first = seen.setdefault((r.symbol, r.date), r.line)
        if first != r.line:
            errors.append(RowError(r.line, "date", f"{r.symbol} {r.date.isoformat()} already given on line {first}"))
    symbols = sorted({r.symbol for r in rows})
    with transaction.atomic():
        ids = dict(Instrument.objects.filter(symbol__in=symbols).values_list("symbol", "id"))
        unknown = [s for s in symbols if s not in ids]
        if unknown and not create_instruments:
            first_line = {}
            for r in rows:
                first_line.setdefault(r.symbol, r.line)
            errors += [RowError(first_line[s], "symbol", f"unknown instrument {s!r}") for s in unknown]
        if errors:
            raise PriceImportError(sorted(errors, key=lambda e: e.line))
        if unknown:
            Instrument.objects.bulk_create([Instrument(symbol=s) for s in unknown])
            ids = dict(Instrument.objects.filter(symbol__in=symbols).values_list("symbol", "id"))
        existing = set(
            PriceBar.objects.filter(instrument_id__in=ids.values(), date__in={r.date for r in rows}).values_list("instrument_id", "date")
        ) if rows else set()
        bars = [PriceBar(instrument_id=ids[r.symbol], date=r.date, close=r.close) for r in rows]
        PriceBar.objects.bulk_create(
            bars, batch_size=5000, update_conflicts=True, unique_fields=["instrument", "date"], update_fields=["close"]
        )
    updated = sum((ids[r.symbol], r.date) in existing for r in rows)
    return ImportResult(rows=len(rows), created=len(rows) - updated, updated=updated, instruments=len(unknown), symbols=symbols)
