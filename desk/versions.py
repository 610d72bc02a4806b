"""Versioned configurations: every change of a strategy's or an agent's configuration is a new
numbered version (who, when, why, the diff against the one before); restoring an earlier
version makes another version whose ``restored_from`` names it.

The diff is pure (``config_diff``); ``ConfigVersionBase`` is the shape each app's version
table shares (the app adds the foreign key to what it versions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import models


def _flat(config: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (config or {}).items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, f"{path}."))
        else:
            out[path] = value
    return out


def config_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``[{path, before, after}]`` for every dotted path whose value differs (absent is ``None``)."""
    old, new = _flat(before), _flat(after)
    return [
        {"path": path, "before": old.get(path), "after": new.get(path)}
        for path in sorted(set(old) | set(new))
        if old.get(path) != new.get(path)
    ]


class ConfigVersionBase(models.Model):
    """One version: the whole configuration as it was from ``created_at``, and why it changed."""

    number = models.PositiveIntegerField()
    config = models.JSONField()
    diff = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    restored_from = models.PositiveIntegerField(null=True, blank=True, help_text="The version this one restored.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["-number"]
