"""A status written only by its state machine (STYLE.md: no ``obj.status = X; obj.save()`` elsewhere).

A model that derives from ``GuardedStatus`` names its ``guarded_fields``; a write
that changes one of them - ``save()`` of a loaded row, ``create`` with anything but
the field's default, ``QuerySet.update`` / ``bulk_update`` naming it - raises
``StatusWriteRefused`` unless it runs inside ``status_write()``, which only the
lifecycle's apply function enters.  A context variable, so concurrent requests
and tasks never open the door for each other.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import models

from desk.errors import Conflict

_via_machine = contextvars.ContextVar("desk_status_write", default=False)


class StatusWriteRefused(Conflict):
    """A status changes only through its state machine."""


@contextmanager
def status_write() -> Iterator[None]:
    """The state machine's apply function writes the guarded fields inside this block."""
    token = _via_machine.set(True)
    try:
        yield
    finally:
        _via_machine.reset(token)


def _refuse(model, fields: Iterable[str]) -> None:
    if _via_machine.get():
        return
    hit = sorted(set(fields) & set(model.guarded_fields))
    if hit:
        raise StatusWriteRefused(
            f"{model.__name__}.{', '.join(hit)} changes only through its state machine.",
            field_errors={f: "Changes only through its state machine." for f in hit},
        )


class GuardedQuerySet(models.QuerySet):
    def update(self, **kwargs):
        _refuse(self.model, kwargs)
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        _refuse(self.model, fields)
        return super().bulk_update(objs, fields, *args, **kwargs)


class GuardedStatus(models.Model):
    """Abstract base: ``guarded_fields`` change only inside ``status_write()``."""

    guarded_fields: tuple[str, ...] = ("status",)

    objects = GuardedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        obj = super().from_db(db, field_names, values)
        obj._guarded_loaded = {f: obj.__dict__[f] for f in cls.guarded_fields if f in obj.__dict__}
        return obj

    def save(self, *args, **kwargs):
        loaded = getattr(self, "_guarded_loaded", None)
        if loaded is None:  # a new row: only in the field's initial value
            changed = [f for f in self.guarded_fields if getattr(self, f) != self._meta.get_field(f).get_default()]
        else:
            changed = [f for f in self.guarded_fields if f in loaded and getattr(self, f) != loaded[f]]
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            changed = [f for f in changed if f in update_fields]
        _refuse(type(self), changed)
        super().save(*args, **kwargs)
        self._guarded_loaded = {f: getattr(self, f) for f in self.guarded_fields}
