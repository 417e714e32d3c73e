"""The ``strategy`` section of a config: what a continual run does against forgetting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aigenbench.errors import ConfigError

StrategyName = Literal["finetune", "replay", "lwf", "ewc", "cumulative"]


@dataclass
class StrategyConfig:
    """How window k learns from window k-1 (the ``strategy`` section; every field changes results).

    Strategies other than ``finetune`` need ``protocol.benchmark_type: continual_learning``.
    """

    name: StrategyName = "finetune"
    """``finetune``: window k starts from window k-1's weights, nothing else (the protocol's own).
    ``replay``: also train on a memory of earlier windows' training rows. ``lwf``: distil window
    k-1's detector on window k's images. ``ewc``: penalise moving the weights that mattered
    (online EWC). ``cumulative``: train on every window so far (the upper bound)."""
    memory_size: int = 1000
    """replay: the memory's budget in images, half real and half fake, the fakes shared equally
    by the generators seen so far and the reals by the windows seen so far."""
    selection: Literal["random", "herding"] = "random"
    """replay: which rows of a window enter the memory: a seeded random draw, or herding (the
    rows whose mean feature best tracks their group's mean, iCaRL)."""
    temperature: float = 2.0
    """lwf: distillation temperature (soft targets of teacher and student at logits / T)."""
    distillation_weight: float = 1.0
    """lwf: weight of the distillation term (scaled by T^2, as in Hinton et al.)."""
    ewc_lambda: float = 10000.0
    """ewc: weight of the penalty lambda/2 * sum_i F_i (theta_i - theta*_i)^2. The Fisher of a
    mean mini-batch loss is small: pick lambda so the penalty (logged as
    ``train/strategy_penalty``) is comparable to the loss."""
    ewc_decay: float = 0.9
    """ewc: online EWC: F <- decay * F_previous + F_window (1: sum every window's Fisher)."""
    fisher_samples: int = 0
    """ewc: training rows of a window used to estimate its Fisher (0: all of them)."""
    fisher_batch_size: int = 32
    """ewc: rows per mini-batch of the Fisher estimate (the estimate depends on it, so it is
    fixed here rather than taken from the per-device training batch)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        checks = [
            (self.memory_size >= 2, "strategy.memory_size must be at least 2 (one real, one fake)"),
            (self.temperature > 0, "strategy.temperature must be > 0"),
            (self.distillation_weight >= 0, "strategy.distillation_weight must be >= 0"),
            (self.ewc_lambda >= 0, "strategy.ewc_lambda must be >= 0"),
            (0 <= self.ewc_decay <= 1, "strategy.ewc_decay must be between 0 and 1"),
            (self.fisher_samples >= 0, "strategy.fisher_samples must be >= 0 (0: all rows)"),
            (self.fisher_batch_size >= 1, "strategy.fisher_batch_size must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def check_benchmark_type(config: StrategyConfig, benchmark_type: str) -> None:
    """A strategy other than finetune only makes sense when windows do not already hold the past."""
    if config.name != "finetune" and benchmark_type != "continual_learning":
        raise ConfigError(
            f"strategy {config.name!r} needs protocol.benchmark_type: continual_learning (got "
            f"{benchmark_type!r}): it acts between windows that train on their own rows only; "
            "use --config protocol/continual_learning, or strategy.name: finetune"
        )
