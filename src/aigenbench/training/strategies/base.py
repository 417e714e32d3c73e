"""A continual-learning strategy: plugins with hooks at window boundaries and in each step.

Avalanche's model, in Lightning: a strategy is a list of plugins, each overriding only the hooks
it needs (composition, not a class tower). The window runner calls, per window k:

1. :func:`~aigenbench.training.strategies.build_strategy` once, with a :class:`WindowContext`
   (the plan, the window, window k-1's detector and the state window k-1 left);
2. :meth:`Strategy.training_ids`: the window's own rows plus the rows a plugin adds (replay's
   memory, cumulative's earlier windows);
3. :meth:`Strategy.penalty` in every training step, added to the method's loss;
4. :meth:`Strategy.after_window` once the weights are final (replay's memory update, EWC's Fisher);
5. :meth:`Strategy.state` written to ``window_<k>/`` before ``DONE``: what window k+1 starts from.

Everything a plugin keeps across windows is in that state (row IDs as JSON, tensors as
safetensors), and nothing changes during a window, so a run resumed mid-window trains with the
same memory, teacher and anchor as an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from aigenbench.training.strategies.config import StrategyConfig

if TYPE_CHECKING:
    from aigenbench.models.detector import Detector
    from aigenbench.protocol import BenchmarkPlan

Batches = Callable[[Sequence[int], int], Iterable[Mapping[str, torch.Tensor]]]
"""Given row IDs and a batch size: batches of those training rows (copy 0, in the order given),
for the forward passes a plugin makes after a window (herding, Fisher)."""


@dataclass
class WindowContext:
    """What a strategy may know about the window it serves."""

    plan: BenchmarkPlan
    window: int
    seed: int
    """The experiment's seed: replay's draws are keyed by (seed, window, group)."""
    previous: Detector | None = None
    """Window k-1's final detector (None in window 0); LwF's teacher."""
    previous_state: dict[str, Any] = field(default_factory=dict)
    """The JSON state window k-1 left (``{}`` in window 0)."""
    previous_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    """The tensors window k-1 left (EWC's Fisher and anchor)."""

    @property
    def own_ids(self) -> list[int]:
        """The window's own training rows (the protocol's)."""
        return self.plan.training_ids(self.window)


@dataclass
class Costs:
    """What a strategy cost in one window (reported in DONE and printed)."""

    memory_images: int = 0
    """Rows of earlier windows trained on in this window (replay's memory, cumulative's past)."""
    extra_forward_images: int = 0
    """Images through a model outside the training forward (teacher, Fisher, herding)."""
    seconds: float = 0.0
    """Wall time of the strategy's own work (penalties, post-window estimates)."""

    def to_dict(self) -> dict[str, int | float]:
        return {
            "memory_images": self.memory_images,
            "extra_forward_images": self.extra_forward_images,
            "seconds": round(self.seconds, 3),
        }


class StrategyPlugin:
    """One behaviour of a strategy; override the hooks it needs (all are no-ops here)."""

    name = "plugin"

    def __init__(self, config: StrategyConfig, context: WindowContext, costs: Costs) -> None:
        self.config = config
        self.context = context
        self.costs = costs

    def extra_training_ids(self) -> list[int]:
        """Rows of earlier windows to train on too, beside the window's own."""
        return []

    def penalty(
        self, module: Any, batch: Mapping[str, torch.Tensor], logits: torch.Tensor
    ) -> torch.Tensor | None:
        """A term added to the method's loss in a training step (None: nothing)."""
        return None

    def after_window(self, module: Any, batches: Batches, device: torch.device) -> None:
        """The window's weights are final: update what the next window starts from."""

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON-able state, tensors) for the next window; keys are this plugin's own."""
        return {}, {}


class Strategy:
    """The plugins of one window, called in order."""

    def __init__(self, config: StrategyConfig, context: WindowContext) -> None:
        self.config = config
        self.context = context
        self.costs = Costs()
        self.plugins: list[StrategyPlugin] = []
        self._training_ids: list[int] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def add(self, plugin_type: type[StrategyPlugin]) -> Strategy:
        self.plugins.append(plugin_type(self.config, self.context, self.costs))
        return self

    # ----------------------------------------------------------------------------- hooks

    def training_ids(self) -> list[int]:
        """The window's own rows, then every row a plugin adds (each row once)."""
        if self._training_ids is None:
            own = self.context.own_ids
            seen = set(own)
            extra: list[int] = []
            for plugin in self.plugins:
                for row_id in plugin.extra_training_ids():
                    if row_id not in seen:
                        seen.add(row_id)
                        extra.append(row_id)
            self.costs.memory_images = len(extra)
            self._training_ids = own + extra
        return list(self._training_ids)

    def replayed_ids(self) -> list[int]:
        """The rows of earlier windows this window trains on."""
        return self.training_ids()[len(self.context.own_ids) :]

    def penalty(
        self, module: Any, batch: Mapping[str, torch.Tensor], logits: torch.Tensor
    ) -> torch.Tensor:
        """The sum of the plugins' terms (a zero tensor when none has one)."""
        started = time.perf_counter()
        total = logits.new_zeros((), dtype=torch.float32)
        for plugin in self.plugins:
            term = plugin.penalty(module, batch, logits)
            if term is not None:
                total = total + term.float()
        self.costs.seconds += time.perf_counter() - started
        return total

    @property
    def has_penalty(self) -> bool:
        return any(type(p).penalty is not StrategyPlugin.penalty for p in self.plugins)

    def after_window(self, module: Any, batches: Batches, device: torch.device) -> None:
        started = time.perf_counter()
        for plugin in self.plugins:
            plugin.after_window(module, batches, device)
        self.costs.seconds += time.perf_counter() - started

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        data: dict[str, Any] = {"strategy": self.name, "window": self.context.window}
        tensors: dict[str, torch.Tensor] = {}
        for plugin in self.plugins:
            plugin_data, plugin_tensors = plugin.state()
            data.update(plugin_data)
            tensors.update(plugin_tensors)
        return data, tensors
