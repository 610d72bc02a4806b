"""Writing many rows in one statement (a kernel helper for the services' bulk paths)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection


def rows_update(model, objs: Sequence, fields: Sequence[str]) -> None:
    """Write ``fields`` of ``objs`` (rows of ``model``) in one statement.

    On PostgreSQL an ``UPDATE ... FROM (VALUES ...)``: Django's ``bulk_update`` writes a CASE per
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
    one = "(" + ", ".join(f"%s::{c.db_type(connection)}" for c in cols) + ")"
    sets = ", ".join(f"{q(c.column)} = v.{q(c.column)}" for c in cols[1:])
    sql = (f"UPDATE {q(meta.db_table)} AS t SET {sets} FROM (VALUES {', '.join([one] * len(objs))}) "
           f"AS v({', '.join(q(c.column) for c in cols)}) WHERE t.{q(meta.pk.column)} = v.{q(meta.pk.column)}")
    params = [c.get_db_prep_save(getattr(o, c.attname), connection) for o in objs for c in cols]
    if getattr(model, "LIFECYCLE", "") and set(fields) & set(model.guarded_fields):
        model.objects.none().bulk_update([], fields)  # the state machine's guard: refused outside its transition
    with connection.cursor() as cur:
        cur.execute(sql, params)
