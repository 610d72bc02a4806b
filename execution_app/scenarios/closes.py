"""The closes a backtest runs on (dates x instruments, floats), read from ``PriceBar`` and cached on disk.

Reading a 23-year run's 140,000 bars through the ORM and pivoting them was most of ``manage.py backtest``'s
load time, and the same bars always give the same matrix. So the matrix is kept as an ``.npz`` under
``VAR_DIR/cache/``, named by a fingerprint of what it was built from: the instruments (id, symbol, asset
class) and, over the run's date range, the bars' count and the sums of their ids, closes, closes x id and
day number x instrument id (exact in PostgreSQL, whose sums of decimals are decimals). A bar added,
deleted or moved, or a close changed, changes the fingerprint and so the file's name: a stale file is never
read, only left for the pruning (the newest ``KEEP_FILES`` stay). The fingerprint is one aggregate query
the database answers without sending a row. A file that cannot be read or written is rebuilt or skipped,
never an error.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

CACHE_VERSION = 1  # bump when the file's layout or the matrix's meaning changes
KEEP_FILES = 8
_DAY_NUMBER = {  # a date as a whole number of days, per database
    "postgresql": "({date} - DATE '1970-01-01')",
    "sqlite": "CAST(julianday({date}) AS INTEGER)",
}


@dataclass(frozen=True)
class ClosesMatrix:
    dates: np.ndarray  # datetime64[D], ascending: every date with a bar of any instrument in the range
    symbols: tuple[str, ...]  # ascending: the instruments with a bar in the range
    values: np.ndarray  # float64, dates x symbols; NaN where an instrument has no bar that day
    indexes: frozenset[str]  # which symbols are indexes (``Instrument.AssetClass.INDEX``), not tradable


def closes_matrix(*, since: date, end: date) -> ClosesMatrix | None:
    """The bars dated ``since`` to ``end``; ``None`` when there are none."""
    from market_app.models import Instrument

    instruments = list(Instrument.objects.order_by("id").values_list("id", "symbol", "asset_class"))
    fingerprint = _fingerprint(since, end)
    if fingerprint is not None and fingerprint[0] == 0:
        return None
    path = None
    if fingerprint is not None:
        key = hashlib.sha256(repr((CACHE_VERSION, since, end, instruments, fingerprint)).encode()).hexdigest()[:32]
        path = _cache_dir() / f"closes-{key}.npz"
        matrix = _read(path)
        if matrix is not None:
            return matrix
    matrix = _from_bars(since, end, instruments)
    if matrix is not None and path is not None:
        _write(path, matrix)
    return matrix


def _fingerprint(since: date, end: date) -> tuple | None:
    from django.db import connection

    from market_app.models import PriceBar

    day = _DAY_NUMBER.get(connection.vendor)
    if day is None:
        return None  # a database we have no day number for: no cache, the bars are read every time
    q = connection.ops.quote_name
    date_col, close, id_, inst = (q(PriceBar._meta.get_field(f).column) for f in ("date", "close", "id", "instrument"))
    sql = (f"SELECT COUNT(*), SUM({id_}), SUM({close}), SUM({close} * {id_}), "  # noqa: S608  # nosec B608 - names from the model, quoted; values bound
           f"SUM({day.format(date=date_col)} * {inst}) FROM {q(PriceBar._meta.db_table)} "
           f"WHERE {date_col} >= %s AND {date_col} <= %s")
    with connection.cursor() as cur:
        cur.execute(sql, [since, end])
        return tuple(cur.fetchone())


def _from_bars(since: date, end: date, instruments: list[tuple[int, str, str]]) -> ClosesMatrix | None:
    from django.db.models import FloatField
    from django.db.models.functions import Cast

    from market_app.models import Instrument, PriceBar

    # The closes as floats from the database (both sides round the same decimal to the nearest double): a hundred
    # thousand Decimals are not built only to be turned into floats.
    rows = list(
        PriceBar.objects.filter(date__gte=since, date__lte=end).order_by()
        .annotate(close_float=Cast("close", FloatField())).values_list("instrument_id", "date", "close_float")
    )
    if not rows:
        return None
    ids, days, closes = zip(*rows)
    day_numbers = np.fromiter((d.toordinal() for d in days), dtype=np.int64, count=len(days))
    dates, row = np.unique(day_numbers, return_inverse=True)
    symbol_of = {pk: symbol for pk, symbol, _ in instruments}
    symbols = sorted({symbol_of[pk] for pk in set(ids)})
    col_of = {symbol: j for j, symbol in enumerate(symbols)}
    col = np.fromiter((col_of[symbol_of[pk]] for pk in ids), dtype=np.int64, count=len(ids))
    values = np.full((len(dates), len(symbols)), np.nan)
    values[row, col] = np.asarray(closes, dtype=np.float64)
    indexes = frozenset(s for _, s, kind in instruments if kind == Instrument.AssetClass.INDEX and s in col_of)
    epoch = date(1970, 1, 1).toordinal()
    return ClosesMatrix((dates - epoch).astype("datetime64[D]"), tuple(symbols), values, indexes)


def _cache_dir() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "cache"


def _read(path: Path) -> ClosesMatrix | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            symbols = tuple(str(s) for s in f["symbols"])
            return ClosesMatrix(f["dates"], symbols, f["values"], frozenset(str(s) for s in f["indexes"]))
    except (OSError, ValueError, KeyError):
        return None


def _write(path: Path, matrix: ClosesMatrix) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, dates=matrix.dates, symbols=np.array(matrix.symbols, dtype=str),
                     values=matrix.values, indexes=np.array(sorted(matrix.indexes), dtype=str))
        tmp.replace(path)  # atomic: another process never reads half a file
        for old in sorted(path.parent.glob("closes-*.npz"), key=_mtime, reverse=True)[KEEP_FILES:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
