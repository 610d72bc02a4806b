"""The guard that keeps a lifecycle's status inside its state machine (STYLE.md rule 4).

A model whose ``status`` is a desk lifecycle (an order, a proposal, a scenario run, an alert
delivery, …) derives from ``LifecycleModel`` and names its machine in ``LIFECYCLE``. Its
status can then change only inside ``transition(<that name>)``, which the machine's apply
function enters after the table allowed the move: ``obj.status = X; obj.save()`` and
``Model.objects.filter(…).update(status=X)`` anywhere else raise ``StatusWriteRefused``.
Creating a row is entering the lifecycle and is not guarded.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import models

_machine: contextvars.ContextVar[str | None] = contextvars.ContextVar("desk_lifecycle_machine", default=None)


class StatusWriteRefused(RuntimeError):
    """A status written around its state machine: a programming error, never a user's."""


@contextmanager
def transition(lifecycle: str) -> Iterator[None]:
    """Inside, ``lifecycle``'s status may be written; only that lifecycle's machine enters it."""
    token = _machine.set(lifecycle)
    try:
        yield
    finally:
        _machine.reset(token)


def _refuse(model, how: str) -> None:
    raise StatusWriteRefused(
        f"{model.__name__}.status written by {how} outside its state machine ({model.LIFECYCLE}); "
        "change it through the machine's transition service"
    )


class LifecycleQuerySet(models.QuerySet):
    def update(self, **kwargs):
        if "status" in kwargs and _machine.get() != self.model.LIFECYCLE:
            _refuse(self.model, "QuerySet.update")
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        if "status" in fields and _machine.get() != self.model.LIFECYCLE:
            _refuse(self.model, "QuerySet.bulk_update")
        return super().bulk_update(objs, fields, batch_size=batch_size)


class LifecycleModel(models.Model):
    """An abstract model whose ``status`` only its machine changes (see the module docstring)."""

    LIFECYCLE = ""

    objects = LifecycleQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        obj = super().from_db(db, field_names, values)
        obj._status_loaded = obj.__dict__.get("status")
        return obj

    def refresh_from_db(self, *args, **kwargs):
        super().refresh_from_db(*args, **kwargs)
        self._status_loaded = self.__dict__.get("status")

    def save(self, *args, **kwargs):
        if not self._state.adding and _machine.get() != self.LIFECYCLE:
            fields = kwargs.get("update_fields")
            current = self.__dict__.get("status")
            if (fields is None or "status" in fields) and current != getattr(self, "_status_loaded", current):
                _refuse(type(self), "save()")
        super().save(*args, **kwargs)
        self._status_loaded = self.__dict__.get("status")


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
