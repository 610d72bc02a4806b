"""The guard that keeps a lifecycle's status inside its state machine (STYLE.md rule 4).

A model whose ``status`` is a desk lifecycle (an order, a proposal, a scenario run, an alert
delivery, a limit change, the kill switch, …) derives from ``LifecycleModel``, names its
machine in ``LIFECYCLE`` and its status field(s) in ``guarded_fields``. They can then change
only inside ``transition(<that name>)``, which the machine's apply function enters after the
table allowed the move: ``obj.status = X; obj.save()``, ``QuerySet.update(status=X)`` and
``bulk_update`` anywhere else raise ``StatusWriteRefused``. A context variable, so concurrent
requests and tasks never open the door for each other, and one machine never opens another's.
Creating a row enters the lifecycle; with ``guard_create`` it must enter at the field's default.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import models

from desk.errors import Conflict

_machine: contextvars.ContextVar[str | None] = contextvars.ContextVar("desk_lifecycle_machine", default=None)


class StatusWriteRefused(Conflict):
    """A status written around its state machine: it changes only through that machine."""


@contextmanager
def transition(lifecycle: str) -> Iterator[None]:
    """Inside, ``lifecycle``'s status may be written; only that lifecycle's machine enters it."""
    token = _machine.set(lifecycle)
    try:
        yield
    finally:
        _machine.reset(token)


def _refuse(model, fields, how: str) -> None:
    hit = sorted(set(fields) & set(model.guarded_fields))
    if hit and _machine.get() != model.LIFECYCLE:
        raise StatusWriteRefused(
            f"{model.__name__}.{', '.join(hit)} written by {how} outside its state machine ({model.LIFECYCLE}): "
            "it changes only through that machine.",
            field_errors={f: "Changes only through its state machine." for f in hit},
        )


class LifecycleQuerySet(models.QuerySet):
    def update(self, **kwargs):
        _refuse(self.model, kwargs, "QuerySet.update")
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        _refuse(self.model, fields, "QuerySet.bulk_update")
        return super().bulk_update(objs, fields, batch_size=batch_size)


class LifecycleModel(models.Model):
    """An abstract model whose ``status`` only its machine changes (see the module docstring)."""

    LIFECYCLE = ""
    guarded_fields: tuple[str, ...] = ("status",)
    guard_create = False

    objects = LifecycleQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        obj = super().from_db(db, field_names, values)
        obj._guarded_loaded = {f: obj.__dict__[f] for f in cls.guarded_fields if f in obj.__dict__}
        return obj

    def refresh_from_db(self, *args, **kwargs):
        super().refresh_from_db(*args, **kwargs)
        self._guarded_loaded = {f: self.__dict__[f] for f in self.guarded_fields if f in self.__dict__}

    def save(self, *args, **kwargs):
        if _machine.get() != self.LIFECYCLE:
            if self._state.adding:
                changed = [f for f in self.guarded_fields if self.guard_create and getattr(self, f) != self._meta.get_field(f).get_default()]
            else:
                loaded = getattr(self, "_guarded_loaded", {})
                changed = [f for f in self.guarded_fields if f in loaded and self.__dict__.get(f) != loaded[f]]
                fields = kwargs.get("update_fields")
                if fields is not None:
                    changed = [f for f in changed if f in fields]
            _refuse(type(self), changed, "save()")
        super().save(*args, **kwargs)
        self._guarded_loaded = {f: self.__dict__[f] for f in self.guarded_fields if f in self.__dict__}


def apply_transition(obj: LifecycleModel, table, event: str, *, previous: str = "", fields: dict | None = None) -> str:
    """Move ``obj`` by ``event`` per ``table`` (raises ``IllegalTransition``), set ``fields``, save; returns the old status."""
    old = obj.status
    new = table.next_status(old, event, previous)
    for name, value in (fields or {}).items():
        setattr(obj, name, value)
    obj.status = new
    with transition(obj.LIFECYCLE):
        obj.save(update_fields=["status", *(fields or {})])
    return old


def update_where_allowed(queryset: LifecycleQuerySet, table, event: str, **fields) -> int:
    """One conditional UPDATE: the rows of ``queryset`` whose status allows ``event`` take its target.

    For races settled in the database (a claim): the table still decides which rows may move.
    """
    targets = {table.table[s][event] for s in table.sources(event)}
    if len(targets) != 1 or table.PREVIOUS in targets:
        raise ValueError(f"{table.kind} {event}: not one fixed target status")
    with transition(queryset.model.LIFECYCLE):
        return queryset.filter(status__in=table.sources(event)).update(status=targets.pop(), **fields)
