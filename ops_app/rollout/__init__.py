"""Gradual rollout.

- ``modes``: a whole portfolio or agent switched live <-> shadow (admins, audited in ``ModeChange``).
- ``stages``: a new strategy configuration version going shadow -> canary -> full, promoted with a
  risk officer's sign-off, rolled back by hand or automatically when a rollout alert rule fires.
- ``compare``: the canary against the incumbent (tracking error, reject rate, slippage, risk breaches).
- ``api``: the endpoints under /api/v1/.
"""

from ops_app.rollout.modes import (  # noqa: F401
    MODES,
    AgentModeView,
    ModeInput,
    PortfolioModeView,
    RolloutError,
    RolloutForbidden,
    agent_mode_set,
    agent_modes,
    mode_changes,
    portfolio_mode_set,
)
