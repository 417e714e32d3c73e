"""Continual-learning strategies: finetune, replay, lwf, ewc, cumulative (see base.py).

strategy = build_strategy(config.strategy, WindowContext(plan, window, seed, previous, ...))
rows = strategy.training_ids()          # the window's own rows + replayed ones
loss = loss + strategy.penalty(module, batch, logits)   # in each training step
strategy.after_window(module, batches, device)           # weights final: memory, Fisher
save_state(window_dir, *strategy.state())                # what window k+1 starts from
"""

from __future__ import annotations

from aigenbench.training.strategies.base import (
    Batches,
    Costs,
    Strategy,
    StrategyPlugin,
    WindowContext,
)
from aigenbench.training.strategies.config import StrategyConfig, check_benchmark_type
from aigenbench.training.strategies.cumulative import CumulativePlugin
from aigenbench.training.strategies.ewc import EWCPlugin
from aigenbench.training.strategies.finetune import PLUGINS as FINETUNE_PLUGINS
from aigenbench.training.strategies.lwf import LwFPlugin
from aigenbench.training.strategies.replay import ReplayPlugin
from aigenbench.training.strategies.state import load_state, save_state, state_exists

PLUGINS: dict[str, tuple[type[StrategyPlugin], ...]] = {
    "finetune": FINETUNE_PLUGINS,
    "replay": (ReplayPlugin,),
    "lwf": (LwFPlugin,),
    "ewc": (EWCPlugin,),
    "cumulative": (CumulativePlugin,),
}


def build_strategy(config: StrategyConfig, context: WindowContext) -> Strategy:
    """The strategy of one window, its plugins given the context (and window k-1's state)."""
    check_benchmark_type(config, context.plan.config.benchmark_type)
    strategy = Strategy(config, context)
    for plugin in PLUGINS[config.name]:
        strategy.add(plugin)
    return strategy


__all__ = [
    "PLUGINS",
    "Batches",
    "Costs",
    "Strategy",
    "StrategyConfig",
    "StrategyPlugin",
    "WindowContext",
    "build_strategy",
    "load_state",
    "save_state",
    "state_exists",
]
