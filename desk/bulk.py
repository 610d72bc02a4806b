"""Writing many rows in one statement (a kernel helper for the services' bulk paths).

On PostgreSQL each column travels as one array parameter (``unnest``): a statement of a few parameters
whatever the number of rows, so neither the driver nor the server parses thousands of placeholders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from django.db import connection, models


@contextmanager
def bound_cursor() -> Iterator:
    """A cursor whose values travel apart from the statement (PostgreSQL's extended protocol); elsewhere the usual one.

    Django's psycopg cursor binds on the client: it quotes every value into the statement's text, and for a statement
    of a few arrays (the ones below) that quoting costs more than the database's work. Values here must be typed by
    their place or a cast (``%s::numeric[]``), as the database sees them as parameters, not literals.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cur:
            yield cur
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    with connection.wrap_database_errors, connection._prepare_cursor(ServerBindingCursor(connection.connection)) as cur:
        yield cur


def _arrays(cols, objs, *, adding: bool) -> tuple[str, list]:
    """(``unnest(%s::type[], ...)``, one list per column) for ``objs``."""
    params = [[c.get_db_prep_save(c.pre_save(o, True) if adding else getattr(o, c.attname), connection) for o in objs]
              for c in cols]
    return "unnest(" + ", ".join(f"%s::{c.db_type(connection)}[]" for c in cols) + ")", params


def _update_sql(model, objs: Sequence, fields: Sequence[str]) -> tuple[str, list]:
    """PostgreSQL's ``UPDATE ... FROM unnest(...)`` for ``rows_update`` (the state machine's guard applied)."""
    meta = model._meta
    cols = [meta.pk, *(meta.get_field(f) for f in fields)]
    q = connection.ops.quote_name
    sets = ", ".join(f"{q(c.column)} = v.{q(c.column)}" for c in cols[1:])
    source, params = _arrays(cols, objs, adding=False)
    sql = (f"UPDATE {q(meta.db_table)} AS t SET {sets} FROM {source} AS v({', '.join(q(c.column) for c in cols)}) "  # nosec B608 - identifiers from model metadata, quoted; values bound
           f"WHERE t.{q(meta.pk.column)} = v.{q(meta.pk.column)}")
    _guard(model, fields)
    return sql, params


def _guard(model, fields: Sequence[str]) -> None:
    """The state machine's guard: a write of a model's guarded fields is refused outside its transition."""
    if getattr(model, "LIFECYCLE", "") and set(fields) & set(model.guarded_fields):
        model.objects.none().bulk_update([], fields)


def _insert_sql(model, objs: Sequence) -> tuple[str, list]:
    meta = model._meta
    cols = [f for f in meta.concrete_fields if not f.primary_key]
    q = connection.ops.quote_name
    source, params = _arrays(cols, objs, adding=True)
    return f"INSERT INTO {q(meta.db_table)} ({', '.join(q(c.column) for c in cols)}) SELECT * FROM {source}", params  # nosec B608 - identifiers from model metadata, quoted; values bound


def rows_update(model, objs: Sequence, fields: Sequence[str]) -> None:
    """Write ``fields`` of ``objs`` (rows of ``model``) in one statement.

    On PostgreSQL an ``UPDATE ... FROM unnest(...)``: Django's ``bulk_update`` writes a CASE per
    field that the database evaluates row by row against every row (quadratic in a batch).
    """
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields)
        return
    sql, params = _update_sql(model, objs, fields)
    with bound_cursor() as cur:
        cur.execute(sql, params)


def rows_insert(model, objs: Sequence) -> None:
    """Insert ``objs`` (new rows of ``model``, their ids left to the database and not read back) in one statement:
    ``bulk_create`` without the ids, for append-only rows such as events. Defaults and ``auto_now_add`` apply."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    sql, params = _insert_sql(model, objs)
    with bound_cursor() as cur:
        cur.execute(sql, params)


class Writes:
    """Writes to different rows gathered and made in one statement: one round trip to the database.

    On PostgreSQL each write but the last is a data-modifying ``WITH`` of the last; they all see the
    snapshot the statement starts from, so no two of them may touch the same row, and none may read what
    another writes (a row it inserts, a value it updates). Elsewhere they run one after another, in order.
    Use it where a service writes what it has worked out in hand (``orders_app.report_batch``).
    """

    def __init__(self) -> None:
        self._parts: list[tuple[str, list]] = []
        self._calls: list[Callable[[], object]] = []

    def __bool__(self) -> bool:
        return bool(self._parts or self._calls)

    def update(self, model, objs: Sequence, fields: Sequence[str]) -> None:
        """``rows_update``, made at ``run``."""
        if not objs:
            return
        if connection.vendor != "postgresql":
            objs, fields = list(objs), list(fields)
            _guard(model, fields)  # here, in or out of the transition, not at run
            self._calls.append(lambda: models.QuerySet.bulk_update(model._default_manager.all(), objs, fields))
            return
        self._parts.append(_update_sql(model, objs, fields))

    def insert(self, model, objs: Sequence) -> None:
        """``rows_insert``, made at ``run``."""
        if not objs:
            return
        if connection.vendor != "postgresql":
            objs = list(objs)
            self._calls.append(lambda: model.objects.bulk_create(objs))
            return
        self._parts.append(_insert_sql(model, objs))

    def statement(self, sql: str, params: Sequence, *, otherwise: Callable[[], object]) -> None:
        """A write of the caller's own (PostgreSQL; no RETURNING), or ``otherwise`` on another database."""
        if connection.vendor != "postgresql":
            self._calls.append(otherwise)
            return
        self._parts.append((sql, list(params)))

    def run(self) -> None:
        """Make the writes gathered (then none are left)."""
        parts, calls = self._parts, self._calls
        self._parts, self._calls = [], []
        for call in calls:
            call()
        if not parts:
            return
        *first, (last_sql, last_params) = parts
        sql = (("WITH " + ", ".join(f"w{i} AS ({s})" for i, (s, _) in enumerate(first)) + " ") if first else "") + last_sql
        params = [p for _, ps in first for p in ps] + last_params
        with bound_cursor() as cur:
            cur.execute(sql, params)
