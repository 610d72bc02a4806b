"""Signals: the writes (batch ingest, computed agents' records). Reads live in ``signals_app.selectors``.

- ``signal_batch_create``: one signal or a batch of up to 10,000 from an API
  client; checked column-wise (``signals_app.validation``), all or nothing,
  idempotent on ``(agent, client_signal_id)``, stored with one ``bulk_create``
  and a fixed number of queries whatever the batch size.
- ``signal_records_store``: a computed agent's signals, idempotently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone as dj_timezone

from desk.errors import DomainError
from desk import metrics
from desk import groups, roles
from desk.events import event_publish
from desk.interfaces import SignalRecord
from signals_app.models import Agent, Signal
from signals_app.validation import MAX_BATCH, ItemError, check_expiry, check_values, parse_items

EVENT_LATEST = 20  # signals carried by one signal.received event; the page shows these


class SignalBatchInvalid(DomainError):
    """The batch was refused; nothing was saved. ``errors`` name index, field and reason."""

    status = 400

    def __init__(self, errors: list[ItemError], total: int):
        self.errors = sorted(errors, key=lambda e: (-1 if e.index is None else e.index, e.field))
        self.total = total
        bad = len({e.index for e in errors})
        super().__init__(f"{bad} of {total} signal(s) refused; nothing was saved", status=self.status)


class SignalBatchForbidden(SignalBatchInvalid):
    status = 403


@dataclass
class SignalBatchResult:
    """Per submitted index, the stored signal's id and whether this call created it."""

    many: bool
    ids: list[int]
    created: list[bool]
    # One signal (not a list) stored by this call: the row as inserted, its agent and instrument
    # attached, so the response needs no read back.
    signal: Signal | None = None

    @property
    def created_count(self) -> int:
        return sum(self.created)


def _unit(x: float) -> Decimal:
    # Five places, as stored; formatting rounds half-even on the binary value.
    return Decimal(f"{x:.5f}")


def _market_now() -> datetime:
    from market_app.clock import get_clock

    return get_clock().market_now()


# ---------------------------------------------------------------------------
# Signals from API clients


def _storable(text: str) -> bool:
    """PostgreSQL text cannot hold NUL: such values are refused per item, and never sent in a query."""
    return "\x00" not in text


def signal_batch_create(*, user, items: Any, as_of: datetime | None = None) -> SignalBatchResult:
    """Store one signal (a dict) or a list of up to 10,000, all or nothing.

    Raises ``SignalBatchForbidden`` (403) when the user may not submit for an
    agent named in the batch, ``SignalBatchInvalid`` (400) for every other fault.
    An item whose ``(agent, client_signal_id)`` is already stored is not stored
    again: its stored id comes back with ``created=False`` (an idempotent retry).
    ``as_of`` (default: the market clock's now) is the moment expiry is judged at.
    """
    try:
        return _signal_batch_create(user=user, items=items, as_of=as_of)
    except IntegrityError:
        # A concurrent retry of the same signals won the race between our check and
        # our insert: run again, and its rows are now found as stored.
        return _signal_batch_create(user=user, items=items, as_of=as_of)


def _signal_batch_create(*, user, items: Any, as_of: datetime | None) -> SignalBatchResult:
    from market_app.models import Instrument

    many = isinstance(items, list)
    rows = items if many else [items]
    if not roles.has_role(user, roles.API_CLIENT, roles.ADMIN):
        raise SignalBatchForbidden([ItemError(None, "non_field_errors", "only API clients and admins submit signals")], len(rows))
    if not rows or len(rows) > MAX_BATCH:
        raise SignalBatchInvalid(
            [ItemError(None, "non_field_errors", f"send one signal or a list of 1 to {MAX_BATCH:,} signals, got {len(rows):,}")],
            len(rows),
        )
    cols, errors = parse_items(rows)
    value_errors, ok = check_values(cols)
    errors += value_errors

    # Agents: one query; unknown names are per-item errors, foreign agents a 403.
    keys = set(cols.agent)
    agents = Agent.objects.filter(
        Q(name__in=[k for k in keys if isinstance(k, str) and _storable(k)]) | Q(id__in=[k for k in keys if isinstance(k, int)])
    ).values("id", "name", "owner_id", "enabled")
    by_key: dict[Any, dict] = {}
    for a in agents:
        by_key[a["name"]] = by_key[a["id"]] = a
    found = [by_key.get(k) for k in cols.agent]
    is_admin = roles.is_admin(user)
    forbidden = [
        ItemError(int(cols.index[k]), "agent", f"you do not own agent {a['name']!r}")
        for k, a in enumerate(found)
        if a is not None and not is_admin and a["owner_id"] != user.id
    ]
    if forbidden:
        raise SignalBatchForbidden(forbidden, len(rows))
    for k, a in enumerate(found):
        if a is None:
            errors.append(ItemError(int(cols.index[k]), "agent", f"unknown agent {cols.agent[k]!r}"))
            ok[k] = False

    # Symbols: one query.
    ids_by_symbol = dict(Instrument.objects.filter(symbol__in={x for x in cols.symbol if _storable(x)}).values_list("symbol", "id"))
    for k, sym in enumerate(cols.symbol):
        if sym not in ids_by_symbol and sym.strip():
            errors.append(ItemError(int(cols.index[k]), "symbol", f"unknown symbol {sym!r}"))
            ok[k] = False

    # Idempotency keys: repeats inside the batch are errors; stored ones are returned as they are.
    agent_ids = [a["id"] if a else 0 for a in found]
    pairs = list(zip(agent_ids, cols.client_signal_id))
    first: dict[tuple[int, str], int] = {}
    for k, pair in enumerate(pairs):
        if pair in first and found[k] is not None:
            errors.append(ItemError(int(cols.index[k]), "client_signal_id",
                                    f"repeats the client_signal_id of item {int(cols.index[first[pair]])} for the same agent"))
            ok[k] = False
        first.setdefault(pair, k)
    stored = {
        (aid, csid): sid
        for aid, csid, sid in Signal.objects.filter(
            agent_id__in={a for a in agent_ids if a}, client_signal_id__in={x for x in cols.client_signal_id if _storable(x)}
        ).values_list("agent_id", "client_signal_id", "id")
    }
    is_new = np.fromiter((p not in stored for p in pairs), dtype=bool, count=len(cols))
    for k in np.flatnonzero(is_new & ok).tolist():
        if not found[k]["enabled"]:
            errors.append(ItemError(int(cols.index[k]), "agent", f"agent {found[k]['name']!r} is disabled"))
            ok[k] = False
    errors += check_expiry(cols, as_of or _market_now(), is_new & ok)
    if errors:
        raise SignalBatchInvalid(errors, len(rows))

    ids = [0] * len(rows)
    created = [False] * len(rows)
    for k, pair in enumerate(pairs):
        if not is_new[k]:
            ids[int(cols.index[k])] = stored[pair]
    new_k = np.flatnonzero(is_new).tolist()
    if new_k:
        received = dj_timezone.now()
        utc = timezone.utc
        # Python floats format several times faster than numpy scalars.
        score, conf, horizon = cols.score.tolist(), cols.confidence.tolist(), cols.horizon_days.tolist()
        new_rows = [
            (agent_ids[k], ids_by_symbol[cols.symbol[k]], f"{score[k]:.5f}", f"{conf[k]:.5f}",
             f"{horizon[k]:.3f}", cols.generated_at[k].astimezone(utc), cols.client_signal_id[k],
             cols.items[k].metadata, received)
            for k in new_k
        ]
        with transaction.atomic():
            keys = _signals_insert(new_rows)
            latest = [Signal(id=keys[(r[0], r[6])], **dict(zip(INSERT_COLUMNS, r))) for r in new_rows[-EVENT_LATEST:]]
            _signals_received_publish(latest, names={a["id"]: a["name"] for a in found if a}, count=len(new_rows),
                                      counts=_count_by_agent(r[0] for r in new_rows),
                                      symbols={i: sym for sym, i in ids_by_symbol.items()})
        for k, r in zip(new_k, new_rows):
            ids[int(cols.index[k])] = keys[(r[0], r[6])]
            created[int(cols.index[k])] = True
        if not many:
            one, agent = latest[-1], found[new_k[0]]
            one.agent = Agent(id=agent["id"], name=agent["name"], owner_id=agent["owner_id"], enabled=agent["enabled"])
            one.instrument = Instrument(id=one.instrument_id, symbol=cols.symbol[new_k[0]])
            return SignalBatchResult(many=many, ids=ids, created=created, signal=one)
    return SignalBatchResult(many=many, ids=ids, created=created)


INSERT_COLUMNS = ("agent_id", "instrument_id", "score", "confidence", "horizon_days", "generated_at",
                  "client_signal_id", "metadata", "received_at")
_PG_ARRAYS = "bigint[] bigint[] numeric[] numeric[] numeric[] timestamptz[] text[] jsonb[] timestamptz[]".split()


def _signals_insert(rows: list[tuple]) -> dict[tuple[int, str], int]:
    """Insert signal rows (``INSERT_COLUMNS`` order); returns ``(agent_id, client_signal_id) -> id``.

    Not ``bulk_create``: at 10,000 rows the ORM's per-value preparation (Decimal
    quantising, model instances, 999-parameter batches on SQLite) cost several
    times the insert itself. PostgreSQL gets one ``INSERT ... SELECT FROM unnest``
    of column arrays; SQLite multi-row INSERTs sized to its real parameter limit;
    both ``RETURNING`` the ids, matched back by the idempotency key (unique).
    Decimals go in as their exact text; datetimes are aware UTC.
    """
    table = connection.ops.quote_name(Signal._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in INSERT_COLUMNS)
    returning = "RETURNING agent_id, client_signal_id, id"
    keys: dict[tuple[int, str], int] = {}
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            columns = [list(c) for c in zip(*rows)]
            columns[7] = [json.dumps(m) for m in columns[7]]
            casts = ", ".join(f"%s::{t}" for t in _PG_ARRAYS)
            # Server-side binding: the arrays travel as parameters, not escaped into the SQL text
            # (Django's client-side cursor spends most of its time quoting 90,000 values).
            import psycopg

            with psycopg.Cursor(connection.connection) as pg:
                # nosec B608: table and column names come from the model and constants, every value is a bound parameter.
                pg.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({casts}) {returning}", columns, binary=True)  # nosec B608
                keys.update(((a, c), i) for a, c, i in pg.fetchall())
        elif connection.vendor == "sqlite":
            import sqlite3

            limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            per = max(1, limit // len(INSERT_COLUMNS))
            # Stored as Django stores datetimes in SQLite: naive UTC text (what adapt_datetimefield_value
            # does, at a fraction of its per-value cost).
            received = {r[8] for r in rows}
            text = {t: _sqlite_utc(t) for t in received}
            marks = "(" + ", ".join("%s" for _ in INSERT_COLUMNS) + ")"
            for start in range(0, len(rows), per):
                chunk = rows[start : start + per]
                params = [v for r in chunk
                          for v in (r[0], r[1], r[2], r[3], r[4], _sqlite_utc(r[5]), r[6], json.dumps(r[7]), text[r[8]])]
                # nosec B608: as above, only placeholders are joined into the text; the values are parameters.
                cur.execute(f"INSERT INTO {table} ({names}) VALUES {', '.join([marks] * len(chunk))} {returning}", params)  # nosec B608
                keys.update(((a, c), i) for a, c, i in cur.fetchall())
        else:
            objs = Signal.objects.bulk_create([Signal(**dict(zip(INSERT_COLUMNS, r))) for r in rows])
            keys.update(((o.agent_id, o.client_signal_id), o.id) for o in objs)
    return keys


def _sqlite_utc(t: datetime) -> str:
    return str(t.astimezone(timezone.utc).replace(tzinfo=None))


def _count_by_agent(agent_ids) -> dict[int, int]:
    counts: dict[int, int] = {}
    for aid in agent_ids:
        counts[aid] = counts.get(aid, 0) + 1
    return counts


def _signals_received_publish(latest: list[Signal], *, names: dict[int, str], count: int, counts: dict[int, int],
                              symbols: dict[int, str] | None = None) -> None:
    """One summary event per stored batch (a 10,000-signal batch is one push, not 10,000).

    ``latest``: the batch's last few signals, which the page's feed shows; ``counts``: per agent id.
    """
    if not count:
        return
    transaction.on_commit(lambda: [metrics.signals_received.labels(names.get(a, str(a))).inc(n) for a, n in counts.items()])
    objs = latest[-EVENT_LATEST:]
    if symbols is None:
        from market_app.models import Instrument

        wanted = {o.instrument_id for o in objs}
        symbols = dict(Instrument.objects.filter(id__in=wanted).values_list("id", "symbol"))
    newest_first = sorted(objs, key=lambda o: o.generated_at, reverse=True)
    event_publish(
        event_type="signal.received",
        payload={
            "count": count,
            "agents": [{"id": aid, "name": names.get(aid, str(aid)), "count": n} for aid, n in sorted(counts.items())],
            "latest": [
                {"id": o.id, "agent": names.get(o.agent_id, str(o.agent_id)), "symbol": symbols.get(o.instrument_id, ""),
                 "score": o.score, "confidence": o.confidence, "horizon_days": o.horizon_days,
                 "generated_at": o.generated_at, "received_at": o.received_at}
                for o in newest_first
            ],
        },
        groups=[groups.SIGNALS, *(groups.agent(aid) for aid in sorted(counts))],
    )


def signal_records_store(*, agent: Agent, records: list[SignalRecord]) -> tuple[int, int]:
    """Store a computed agent's records (trusted input), skipping ids already stored. Returns (created, existing)."""
    from market_app.models import Instrument

    if not records:
        return 0, 0
    ids_by_symbol = dict(Instrument.objects.filter(symbol__in={r.symbol for r in records}).values_list("symbol", "id"))
    have = set(Signal.objects.filter(agent=agent, client_signal_id__in={r.client_signal_id for r in records})
               .values_list("client_signal_id", flat=True))
    received = dj_timezone.now()
    objs = [
        Signal(agent_id=agent.id, instrument_id=ids_by_symbol[r.symbol], score=_unit(r.score), confidence=_unit(r.confidence),
               horizon_days=Decimal(f"{r.horizon_days:.3f}"), generated_at=r.generated_at.astimezone(timezone.utc),
               client_signal_id=r.client_signal_id, metadata={"type": agent.type}, received_at=received)
        for r in records
        if r.client_signal_id not in have and r.symbol in ids_by_symbol
    ]
    # ignore_conflicts: a concurrent run of the same agent and day may have stored them first.
    Signal.objects.bulk_create(objs, ignore_conflicts=True)
    _signals_received_publish(objs, names={agent.id: agent.name}, count=len(objs), counts={agent.id: len(objs)} if objs else {},
                              symbols={v: k for k, v in ids_by_symbol.items()})
    return len(objs), len(records) - len(objs)
