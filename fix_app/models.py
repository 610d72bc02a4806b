"""FIX sessions, the command outbox, ClOrdID chains, execution reports and reconciliation runs."""

from __future__ import annotations
