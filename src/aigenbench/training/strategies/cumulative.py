"""Cumulative: window k trains on the rows of windows 0..k (the upper bound of a continual run).

The protocol's own setting (``benchmark_type: cumulative``) on a continual run's windows: the
same rows (each window's own draw, latest first), so a continual experiment can be compared
with its upper bound without a second protocol. Unlike ``benchmark_type: cumulative`` with
``train_subset_size``, each window's subset is drawn on that window alone.
"""

from __future__ import annotations

from aigenbench.training.strategies.base import StrategyPlugin


class CumulativePlugin(StrategyPlugin):
    name = "cumulative"

    def extra_training_ids(self) -> list[int]:
        plan = self.context.plan
        return [
            row
            for earlier in range(self.context.window - 1, -1, -1)
            for row in plan.training_ids(earlier)
        ]
