"""Per-order stage times of the gateway, for the FIX bench: what an order's way to its venue ack is made of.

Off unless ``DESK_FIX_TRACE`` names a file; the gateway then notes, per ClOrdID, the monotonic time
(``time.monotonic()``: CLOCK_MONOTONIC, one clock for every process of the machine, so the bench can set
its own times beside them) at which the order passed each stage, and writes them all to that file (JSON)
when it stops. Only the first time per stage counts: the 8/0 ack, not the fills after it. The gateway
holds ``None`` when tracing is off, and its hot paths test that before anything else.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ENV = "DESK_FIX_TRACE"

# In the order an order passes them. wake_heard: the wake-up's listener got the publish; drained: the main
# thread began the claim that took it; claimed: the claim's statement returned; sent: QuickFIX's send
# returned; answered: the venue's first report on it reached ``fromApp``; taken: the main thread took that
# report off its queue; applied: the report's batch was applied, before the commit; committed: after it.
STAGES = ("wake_heard", "drained", "claimed", "sent", "answered", "taken", "applied", "committed")


class Trace:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.orders: dict[str, dict[str, float]] = {}

    def mark(self, cl_ord_id: str, stage: str, t: float | None = None) -> None:
        """The first time ``cl_ord_id`` reached ``stage`` (a later one is a repeat, a fill, a re-send)."""
        stages = self.orders.get(cl_ord_id)
        if stages is None:
            stages = self.orders.setdefault(cl_ord_id, {})
        if stage not in stages:
            stages[stage] = time.monotonic() if t is None else t

    def dump(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.orders))
        tmp.replace(self.path)

    @staticmethod
    def load(path: Path) -> dict[str, dict[str, float]]:
        path = Path(path)
        return json.loads(path.read_text()) if path.exists() else {}


def from_env() -> Trace | None:
    path = os.environ.get(ENV, "")
    return Trace(Path(path)) if path else None


__all__ = ["ENV", "STAGES", "Trace", "from_env"]
