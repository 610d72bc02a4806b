"""Writing many rows in one statement (a kernel helper for the services' bulk paths).

On PostgreSQL each column travels as one array parameter (``unnest``): a statement of a few parameters
whatever the number of rows, so neither the driver nor the server parses thousands of placeholders.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection


def _arrays(cols, objs, *, adding: bool) -> tuple[str, list]:
    """(``unnest(%s::type[], ...)``, one list per column) for ``objs``."""
    params = [[c.get_db_prep_save(c.pre_save(o, True) if adding else getattr(o, c.attname), connection) for o in objs]
              for c in cols]
    return "unnest(" + ", ".join(f"%s::{c.db_type(connection)}[]" for c in cols) + ")", params


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
    meta = model._meta
    cols = [meta.pk, *(meta.get_field(f) for f in fields)]
    q = connection.ops.quote_name
    sets = ", ".join(f"{q(c.column)} = v.{q(c.column)}" for c in cols[1:])
    source, params = _arrays(cols, objs, adding=False)
    sql = (f"UPDATE {q(meta.db_table)} AS t SET {sets} FROM {source} AS v({', '.join(q(c.column) for c in cols)}) "  # nosec B608 - identifiers from model metadata, quoted; values bound
           f"WHERE t.{q(meta.pk.column)} = v.{q(meta.pk.column)}")
    if getattr(model, "LIFECYCLE", "") and set(fields) & set(model.guarded_fields):
        model.objects.none().bulk_update([], fields)  # the state machine's guard: refused outside its transition
    with connection.cursor() as cur:
        cur.execute(sql, params)


def rows_insert(model, objs: Sequence) -> None:
    """Insert ``objs`` (new rows of ``model``, their ids left to the database and not read back) in one statement:
    ``bulk_create`` without the ids, for append-only rows such as events. Defaults and ``auto_now_add`` apply."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    meta = model._meta
    cols = [f for f in meta.concrete_fields if not f.primary_key]
    q = connection.ops.quote_name
    source, params = _arrays(cols, objs, adding=True)
    sql = f"INSERT INTO {q(meta.db_table)} ({', '.join(q(c.column) for c in cols)}) SELECT * FROM {source}"  # nosec B608 - identifiers from model metadata, quoted; values bound
    with connection.cursor() as cur:
        cur.execute(sql, params)
