"""Free text people read: one rule for names and reasons, used by every input serializer."""

from __future__ import annotations

import unicodedata

from rest_framework import serializers


def plain_text(value: str) -> str:
    """Names people read and match on: no control or invisible formatting characters (NUL, tabs,
    right-to-left overrides, zero-width joiners), which would let one name pass for another."""
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in value):
        raise serializers.ValidationError("Must not contain control or invisible formatting characters (such as right-to-left marks).")
    return value
