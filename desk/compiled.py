"""Read queries compiled once per process (a kernel helper for the order path's reads).

Building a queryset and compiling it to SQL costs the ORM far more CPU than the database takes to answer an
indexed read: the pre-trade check's portfolio row with its seven subqueries takes about a millisecond of Python
to build and compile, a fraction of that to run.  ``CompiledQuery`` builds its queryset once per database alias
with a marker value standing in for each parameter, keeps the SQL and where each marker landed among the
bound parameters, then runs that SQL with each call's values; the rows come back converted by the ORM's own
converters (taken from the compiled query), as ``values()`` / ``values_list()`` would return them.  The queryset
stays the one definition of the query: nothing is written by hand.

A parameter is bound as the ORM binds a value of its type (``int``, ``str``, ``date``, ``datetime``), so a
build function must pass each one straight to a lookup (``filter(pk=portfolio_id)``), not compute with it: a
marker that does not reach the parameters unchanged is refused when the query is compiled, loudly.  ``None``
is refused too (the ORM compiles ``IS NULL`` for it, another query), and so is a list (``__in`` of a given
length: a build function takes one parameter per item, ``risk_app.desk_book._desk_rows``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.transaction import TransactionManagementError

# Markers: values no real call passes, each within its type's range (the ORM drops a lookup of an integer
# beyond its field's range as matching nothing, and the marker would not reach the parameters).
_INT_MARKER = 2_147_481_000
_MARKERS: dict[type, Callable[[int], Any]] = {
    int: lambda k: _INT_MARKER + k,
    str: lambda k: f"\u2063compiled-query-parameter-{k}\u2063",
    date: lambda k: date(1111, 1, 1 + k),
    datetime: lambda k: datetime(1111, 1, 1 + k, 1, 2, 3, 456789, tzinfo=timezone.utc),
}


def _binder(kind: type, connection) -> Callable[[Any], Any]:
    """How the ORM binds a value of ``kind`` on this connection (what ``get_db_prep_value`` does for it)."""
    if kind is datetime:
        return connection.ops.adapt_datetimefield_value
    if kind is date:
        return connection.ops.adapt_datefield_value
    return kind


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str, Callable[[Any], Any]], ...]  # (position among the params, parameter, binder)
    names: tuple[str, ...]  # the row's columns, in order
    converters: tuple  # ((position in the row, (converter, ...), expression), ...)
    for_update: bool
    model: Any  # the queryset's model
    fields: tuple[int, ...] | None  # where the model's columns are in the row, in its field order (None: not all read)
    extras: tuple[tuple[int, str], ...]  # the other columns (annotations): (position, name)


def fields_of(model) -> list[str]:
    """Every column of ``model``, as ``values()`` names them: a build function that reads
    ``values(*fields_of(Model), ...)`` can give model instances (``CompiledQuery.instances``)."""
    return [f.attname for f in model._meta.concrete_fields]


class CompiledQuery:
    """A read query, built by ``build(**parameters)`` (a ``values()`` or ``values_list()`` queryset), compiled once
    per database alias and process.  ``parameters``: each parameter's type (``int``, ``str``, ``date``, ``datetime``)."""

    def __init__(self, build: Callable[..., Any], **parameters: type):
        unknown = {k: t for k, t in parameters.items() if t not in _MARKERS}
        if unknown:
            raise TypeError(f"parameters of unsupported types: {unknown}")
        self.build, self.parameters = build, parameters
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, connection) -> _Compiled:
        markers = {name: _MARKERS[kind](k) for k, (name, kind) in enumerate(self.parameters.items())}
        qs = self.build(**markers)
        query = qs.query
        compiler = query.get_compiler(connection=connection)
        for_update = bool(query.select_for_update and connection.features.has_select_for_update
                          and connection.features.supports_transactions)
        sql, params = compiler.as_sql()  # a locking read compiles only in a transaction (as the ORM runs it)
        params = tuple(params)
        slots = []
        for name, kind in self.parameters.items():
            bind = _binder(kind, connection)
            bound = bind(markers[name])
            found = [i for i, p in enumerate(params) if type(p) is type(bound) and p == bound]
            if not found:
                raise ValueError(f"{getattr(self.build, '__qualname__', self.build)}: parameter {name!r} does not reach "
                                 f"the SQL's parameters unchanged (pass it straight to a lookup)")
            slots.extend((i, name, bind) for i in found)
        # What the ORM's results_iter and ValuesIterable do with a compiled query's rows.
        selected = [s[0] for s in compiler.select[0 : compiler.col_count]]
        converters = tuple((pos, tuple(convs), expr) for pos, (convs, expr) in compiler.get_converters(selected).items())
        names = tuple(query.selected) if query.selected else (
            *query.extra_select, *query.values_select, *query.annotation_select)
        columns = fields_of(qs.model)
        fields = tuple(names.index(a) for a in columns) if set(columns) <= set(names) else None
        extras = tuple((i, n) for i, n in enumerate(names) if n not in columns)
        return _Compiled(sql=sql, params=params, slots=tuple(slots), names=names, converters=converters,
                         for_update=for_update, model=qs.model, fields=fields, extras=extras)

    def compiled(self, using: str = DEFAULT_DB_ALIAS) -> _Compiled:
        connection = connections[using]
        entry = self._compiled.get(connection.alias)
        if entry is None:
            with self._lock:
                entry = self._compiled.get(connection.alias)
                if entry is None:
                    entry = self._compiled[connection.alias] = self._compile(connection)
        return entry

    def tuples(self, *, using: str = DEFAULT_DB_ALIAS, **values: Any) -> list[tuple]:
        """The rows, as ``values_list()`` gives them."""
        connection = connections[using]
        c = self.compiled(using)
        if c.for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(c.params)
        for i, name, bind in c.slots:
            value = values[name]
            if value is None:  # the ORM would have compiled another query (IS NULL), not bound a value
                raise ValueError(f"parameter {name!r} is None")
            params[i] = bind(value)
        with connection.cursor() as cursor:
            cursor.execute(c.sql, params)
            rows = cursor.fetchall()
        if not c.converters:
            return [tuple(r) for r in rows]
        out = []
        for row in rows:
            row = list(row)
            for pos, convs, expr in c.converters:
                v = row[pos]
                for conv in convs:
                    v = conv(v, expr, connection)
                row[pos] = v
            out.append(tuple(row))
        return out

    def dicts(self, *, using: str = DEFAULT_DB_ALIAS, **values: Any) -> list[dict[str, Any]]:
        """The rows, as ``values()`` gives them."""
        names = self.compiled(using).names
        return [dict(zip(names, row)) for row in self.tuples(using=using, **values)]

    def instances(self, *, using: str = DEFAULT_DB_ALIAS, **values: Any) -> list[Any]:
        """The rows as model instances (``Model.from_db``, as a queryset of the model gives them), each other column
        (an annotation) set on its instance: the build function reads ``values(*fields_of(Model), ...)``."""
        c = self.compiled(using)
        if c.fields is None:
            raise ValueError("instances: the query does not read every column of its model (values(*fields_of(Model), ...))")
        alias = connections[using].alias
        columns = fields_of(c.model)
        out = []
        for row in self.tuples(using=using, **values):
            obj = c.model.from_db(alias, columns, [row[i] for i in c.fields])
            for i, name in c.extras:
                setattr(obj, name, row[i])
            out.append(obj)
        return out
