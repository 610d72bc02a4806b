"""A tiny third-party agent type, installed only for tests (found through its entry point)."""

import dataclasses

from signals_app.agents import AgentType, ComputedConfig
from desk.interfaces import ConfigError


@dataclasses.dataclass(frozen=True)
class LastMoveConfig(ComputedConfig):
    scale: float = 0.02

    def validate(self) -> bool:
        super().validate()
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) or self.scale <= 0:
            raise ConfigError("scale", f"must be a positive number, got {self.scale!r}")
        return True


class LastMoveAgent(AgentType):
    """Score = last daily return / scale, clipped to [-1, 1]."""

    name = "last_move"
    config_class = LastMoveConfig
    computed = True

    def compute_scores(self, prices, config):
        if len(prices) < 2:
            return {}
        ret = prices.iloc[-1] / prices.iloc[-2] - 1.0
        return {str(k): max(-1.0, min(1.0, float(v) / config.scale)) for k, v in ret.dropna().items()}
