"""The risk lifecycles as transition tables (DESIGN.md, "State machines"). Pure: no ORM.

- The kill switch, desk-wide and per portfolio: a risk officer goes stricter
  (ACTIVE -> REDUCING -> HALTED) or resumes from REDUCING at once; HALTED is
  latched: it is left only by a re-arm that a second risk officer confirmed.
- A pending limit change and a re-arm request are four-eyes requests
  (``desk.foureyes``): pending -> approved | rejected | expired, a re-arm's
  outcomes being called confirmed and superseded.
"""

from __future__ import annotations

from desk import foureyes
from desk.interfaces import TradingState
from desk.statemachine import TransitionTable

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE.value, TradingState.REDUCING.value, TradingState.HALTED.value

# Trading-state events: a risk officer's direct change, or a confirmed re-arm.
HALT, REDUCE, RESUME = "halt", "reduce", "resume"
REARM_ACTIVE, REARM_REDUCING = "rearm_active", "rearm_reducing"
EVENT_TO = {HALTED: HALT, REDUCING: REDUCE, ACTIVE: RESUME}
REARM_TO = {ACTIVE: REARM_ACTIVE, REDUCING: REARM_REDUCING}

TRADING_STATE = TransitionTable(
    "Trading state",
    {
        ACTIVE: {REDUCE: REDUCING, HALT: HALTED},
        REDUCING: {RESUME: ACTIVE, HALT: HALTED},
        HALTED: {REARM_ACTIVE: ACTIVE, REARM_REDUCING: REDUCING},
    },
    terminal=frozenset(),
)

LIMIT_CHANGE = foureyes.request_table("Limit change")
REARM = foureyes.request_table("Re-arm request", approved="confirmed", expired="superseded")
