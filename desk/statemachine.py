"""A lifecycle as a transition table (STYLE.md rule 4): one table per lifecycle, applied by
one function that raises on an illegal transition. Pure: no ORM here."""

from __future__ import annotations

from collections.abc import Mapping

from desk.errors import Conflict


class IllegalTransition(Conflict, ValueError):
    """A transition the lifecycle's table does not allow; nothing changed."""

    def __init__(self, kind: str, current: str, event: str):
        super().__init__(f"{kind} in {current} cannot take {event}")
        self.kind, self.current, self.event = kind, current, event


class TransitionTable:
    """``table[current][event] -> next``, with ``PREVIOUS`` meaning "back to where it was"."""

    PREVIOUS = "<previous>"

    def __init__(self, kind: str, table: Mapping[str, Mapping[str, str]], terminal: frozenset[str]):
        self.kind, self.table, self.terminal = kind, table, terminal

    def next_status(self, current: str, event: str, previous: str = "") -> str:
        target = self.table.get(current, {}).get(event)
        if target is None:
            raise IllegalTransition(self.kind, current, event)
        if target == self.PREVIOUS:
            if not previous:
                raise IllegalTransition(self.kind, current, event)
            return previous
        return target

    @property
    def statuses(self) -> tuple[str, ...]:
        """Every status of the lifecycle, in the table's order (terminal ones last)."""
        seen = list(self.table)
        for row in self.table.values():
            seen += [s for s in row.values() if s != self.PREVIOUS and not s.startswith("<")]
        seen += sorted(self.terminal)
        return tuple(dict.fromkeys(seen))

    @property
    def open(self) -> tuple[str, ...]:
        """The statuses that are not terminal, in the table's order: the one definition of "open"."""
        return tuple(s for s in self.statuses if s not in self.terminal)

    def sources(self, event: str) -> tuple[str, ...]:
        """The statuses from which ``event`` is allowed."""
        return tuple(s for s, row in self.table.items() if event in row)

    def allowed_events(self, current: str) -> list[str]:
        return sorted(self.table.get(current, {}))

    def is_terminal(self, status: str) -> bool:
        return status in self.terminal
