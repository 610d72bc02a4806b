"""Checking a submitted batch of signals column-wise. Pure: no ORM, no I/O.

A batch is checked in two passes that never stop at the first error, so the
client learns about every bad item at once, each error naming the item's
``index`` in the batch, the ``field`` and a ``reason`` a person can read:

1. Shape and types: one ``msgspec.convert`` of the whole list into typed
   ``SignalIn`` structs (the fast path, taken by every good batch). Only when it
   fails are the items converted one field at a time, to name each bad field.
2. Values, as numpy columns over the well-typed items: score in [-1, 1],
   confidence in [0, 1], horizon in (0, MAX_HORIZON_DAYS], timestamp with a time
   zone, client_signal_id non-empty and short enough; and, given the desk's
   market time, signals already expired by their horizon.

Whatever needs the database (agents, symbols, ownership, duplicates) is the
service's job (``signal_services.signal_batch_create``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import msgspec
import numpy as np

MAX_BATCH = 10_000
MAX_HORIZON_DAYS = 366.0
MIN_HORIZON_DAYS = 0.001  # the stored horizon has 3 places; less would round to zero
MAX_CLIENT_ID = 128
SECONDS_PER_DAY = 86_400.0


class SignalIn(msgspec.Struct):
    """One submitted signal. ``agent`` is the agent's name (or its numeric id)."""

    agent: str | int
    symbol: str
    score: float
    confidence: float
    horizon_days: float
    generated_at: datetime
    client_signal_id: str
    metadata: dict[str, Any] = {}


FIELDS: dict[str, Any] = {f: SignalIn.__annotations__[f] for f in SignalIn.__struct_fields__}
REQUIRED = tuple(f for f in SignalIn.__struct_fields__ if f != "metadata")
_EXPECTED = {
    "agent": "must be an agent name (string) or id (integer)",
    "symbol": "must be a string",
    "score": "must be a number",
    "confidence": "must be a number",
    "horizon_days": "must be a number",
    "generated_at": "must be an ISO 8601 timestamp with a time zone, e.g. 2022-03-01T15:30:00Z",
    "client_signal_id": "must be a string",
    "metadata": "must be an object",
}
_TYPES = {
    "agent": str | int, "symbol": str, "score": float, "confidence": float, "horizon_days": float,
    "generated_at": datetime, "client_signal_id": str, "metadata": dict[str, Any],
}


@dataclass(frozen=True, slots=True)
class ItemError:
    index: int | None  # None: the error is about the whole request
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass
class Columns:
    """The well-typed items as columns; ``index`` is each row's position in the submitted batch."""

    index: np.ndarray
    items: list[SignalIn]
    agent: list[str | int]
    symbol: list[str]
    score: np.ndarray
    confidence: np.ndarray
    horizon_days: np.ndarray
    generated_at: list[datetime]
    client_signal_id: list[str]

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def of(cls, index: list[int] | range, items: list[SignalIn]) -> "Columns":
        return cls(
            index=np.asarray(index, dtype=np.int64),
            items=items,
            agent=[s.agent for s in items],
            symbol=[s.symbol for s in items],
            score=np.fromiter((s.score for s in items), dtype=np.float64, count=len(items)),
            confidence=np.fromiter((s.confidence for s in items), dtype=np.float64, count=len(items)),
            horizon_days=np.fromiter((s.horizon_days for s in items), dtype=np.float64, count=len(items)),
            generated_at=[s.generated_at for s in items],
            client_signal_id=[s.client_signal_id for s in items],
        )

    def take(self, mask: np.ndarray) -> "Columns":
        keep = np.flatnonzero(mask).tolist()
        return Columns.of(self.index[keep].tolist(), [self.items[k] for k in keep])


def _field_errors(index: int, item: Any) -> tuple[SignalIn | None, list[ItemError]]:
    """One item, field by field: every missing or wrongly typed field is named."""
    if not isinstance(item, dict):
        return None, [ItemError(index, "non_field_errors", f"must be an object with the signal's fields, got {type(item).__name__}")]
    errors = [ItemError(index, f, "missing field") for f in REQUIRED if f not in item]
    for name, tp in _TYPES.items():
        if name in item:
            try:
                msgspec.convert(item[name], tp)
            except msgspec.ValidationError:
                errors.append(ItemError(index, name, f"{_EXPECTED[name]}, got {_describe(item[name])}"))
    if errors:
        return None, errors
    return msgspec.convert(item, SignalIn), []


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_items(items: list[Any]) -> tuple[Columns, list[ItemError]]:
    """Typed columns of the items whose fields are all present and of the right type, and the errors of the rest."""
    try:
        return Columns.of(range(len(items)), msgspec.convert(items, list[SignalIn])), []
    except msgspec.ValidationError:
        pass
    good_index: list[int] = []
    good: list[SignalIn] = []
    errors: list[ItemError] = []
    for k, item in enumerate(items):
        parsed, errs = _field_errors(k, item)
        if parsed is None:
            errors.extend(errs)
        else:
            good_index.append(k)
            good.append(parsed)
    return Columns.of(good_index, good), errors


def _flag(errors: list[ItemError], cols: Columns, bad: np.ndarray, field: str, reason) -> None:
    for k in np.flatnonzero(bad).tolist():
        errors.append(ItemError(int(cols.index[k]), field, reason(k)))


def check_values(cols: Columns) -> tuple[list[ItemError], np.ndarray]:
    """Range and format errors of typed columns, and the mask of the rows without any."""
    errors: list[ItemError] = []
    s, c, h = cols.score, cols.confidence, cols.horizon_days
    # Written so that NaN fails every comparison and is caught.
    bad_s = ~((s >= -1.0) & (s <= 1.0))
    bad_c = ~((c >= 0.0) & (c <= 1.0))
    bad_h = ~((h >= MIN_HORIZON_DAYS) & (h <= MAX_HORIZON_DAYS))
    naive = np.fromiter((g.tzinfo is None or g.utcoffset() is None for g in cols.generated_at), dtype=bool, count=len(cols))
    ids = cols.client_signal_id
    bad_id = np.fromiter((not x.strip() or len(x) > MAX_CLIENT_ID for x in ids), dtype=bool, count=len(cols))
    # NUL cannot be stored in a PostgreSQL text column (it would be a 500, not a refusal).
    nul_id = np.fromiter(("\x00" in x for x in ids), dtype=bool, count=len(cols)) & ~bad_id
    bad_sym = np.fromiter((not x.strip() for x in cols.symbol), dtype=bool, count=len(cols))
    _flag(errors, cols, bad_s, "score", lambda k: f"must be between -1 and 1, got {_num(s[k])}")
    _flag(errors, cols, bad_c, "confidence", lambda k: f"must be between 0 and 1, got {_num(c[k])}")
    _flag(errors, cols, bad_h, "horizon_days",
          lambda k: f"must be between {MIN_HORIZON_DAYS} and {MAX_HORIZON_DAYS:g} days, got {_num(h[k])}")
    _flag(errors, cols, naive, "generated_at",
          lambda k: "timestamp has no time zone (naive); add an offset such as Z or +00:00")
    _flag(errors, cols, bad_id, "client_signal_id", lambda k: f"must be 1 to {MAX_CLIENT_ID} characters")
    _flag(errors, cols, nul_id, "client_signal_id", lambda k: "must not contain NUL characters")
    _flag(errors, cols, bad_sym, "symbol", lambda k: "must not be empty")
    ok = ~(bad_s | bad_c | bad_h | naive | bad_id | nul_id | bad_sym)
    return errors, ok


def _num(x: float) -> str:
    return repr(x) if not math.isfinite(x) else f"{x:g}"


def epoch_seconds(stamps: list[datetime]) -> np.ndarray:
    """Aware datetimes -> Unix seconds (float64)."""
    return np.fromiter((g.timestamp() for g in stamps), dtype=np.float64, count=len(stamps))


def check_expiry(cols: Columns, as_of: datetime, mask: np.ndarray) -> list[ItemError]:
    """Rows (where ``mask``) whose ``generated_at + horizon_days`` is before ``as_of``: dead on arrival."""
    if not mask.any():
        return []
    ends = epoch_seconds(cols.generated_at) + cols.horizon_days * SECONDS_PER_DAY
    bad = mask & (ends < as_of.timestamp())
    stamp = as_of.astimezone(timezone.utc).isoformat()
    errors: list[ItemError] = []
    _flag(errors, cols, bad, "generated_at",
          lambda k: f"expired: generated_at + horizon_days is before the desk's market time {stamp}")
    return errors
