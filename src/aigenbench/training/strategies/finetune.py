"""Fine-tuning: window k starts from window k-1's weights and does nothing else (no plugin).

The protocol's behaviour and the lower bound of a continual run: what it forgets is what the
other strategies try to keep.
"""

from __future__ import annotations

from aigenbench.training.strategies.base import StrategyPlugin

PLUGINS: tuple[type[StrategyPlugin], ...] = ()
