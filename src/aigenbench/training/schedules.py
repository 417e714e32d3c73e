"""Optimisers from config and learning-rate schedules stepped per optimiser step.

Parameter groups: group 0 is the head at the configured ``lr``; group 1 (``tune`` and
``staged``) is the backbone at ``lr * backbone_lr_scale``. A ``staged`` backbone's group is
there from the first step: while the backbone is frozen its parameters get no gradient, and
PyTorch optimisers skip parameters without one (no update, no weight decay, no momentum
state), so the switch needs no new group. This keeps the optimiser's and the schedule's
state the same shape before and after the switch, which is what resuming from a checkpoint
needs, and the backbone's learning rate follows the same schedule as the head's (scaled)
instead of starting a schedule of its own mid-window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from aigenbench.errors import ConfigError
from aigenbench.models.config import OptimizerConfig, SchedulerConfig

DEFAULT_WARMUP = {"onecycle": 0.3, "cosine": 0.05, "constant": 0.0}


def optimizer_class(class_path: str) -> type[Optimizer]:
    """The optimiser class named by ``class_path`` (``torch.optim.SGD``, ``AdamW``, ...)."""
    from aigenbench.classpath import import_class

    return import_class(
        class_path,
        "model.optimizer.class_path (e.g. torch.optim.AdamW)",
        base=Optimizer,
        default_module="torch.optim",
    )


def build_optimizer(config: OptimizerConfig, groups: Sequence[dict[str, Any]]) -> Optimizer:
    """The configured optimiser over ``groups`` (each a param-group dict; ``lr_scale`` scales lr).

    Groups with no parameters are dropped.
    """
    cls = optimizer_class(config.class_path)
    args = dict(config.init_args)
    lr = float(args["lr"])
    param_groups = []
    for group in groups:
        group = dict(group)
        scale = float(group.pop("lr_scale", 1.0))
        if not list(group["params"]):
            continue
        param_groups.append({**group, "lr": lr * scale})
    if not param_groups:
        raise ConfigError("nothing to optimise: the detector has no trainable parameters")
    try:
        return cls(param_groups, **args)
    except (TypeError, ValueError) as error:  # a wrong name or a wrong value
        raise ConfigError(
            f"optimizer {config.class_path} rejects init_args {sorted(args)}: {error}"
        ) from error


def build_scheduler(config: SchedulerConfig, optimizer: Optimizer, total_steps: int) -> LRScheduler:
    """The configured schedule over ``total_steps`` optimiser steps (stepped once per step).

    ``onecycle``: ``OneCycleLR`` with each group's configured lr as its ``max_lr``
    (``pct_start`` = the warm-up fraction; momentum cycles as in PyTorch's default when the
    optimiser has momentum or betas). ``cosine``: linear warm-up from 0, then a cosine down
    to ``min_lr_fraction`` of the peak. ``constant``: flat (after an optional warm-up).
    """
    total_steps = int(total_steps)
    if total_steps < 1 or total_steps > 10**12:
        raise ConfigError(
            f"the schedule needs the window's number of optimiser steps, got {total_steps}: "
            "set trainer max_epochs or max_steps to a finite value"
        )
    warmup = (
        DEFAULT_WARMUP[config.name] if config.warmup_fraction is None else config.warmup_fraction
    )
    if config.name == "onecycle":
        max_lr = [group["lr"] for group in optimizer.param_groups]
        cycle_momentum = any(k in optimizer.defaults for k in ("momentum", "betas")) and (
            optimizer.defaults.get("momentum", 1) != 0
        )
        return OneCycleLR(
            optimizer,
            max_lr=max_lr,
            total_steps=total_steps,
            pct_start=warmup,
            div_factor=config.div_factor,
            final_div_factor=config.final_div_factor,
            cycle_momentum=cycle_momentum,
        )
    warmup_steps = round(warmup * total_steps)
    if config.name == "cosine":
        return LambdaLR(
            optimizer, CosineWithWarmup(total_steps, warmup_steps, config.min_lr_fraction)
        )
    return LambdaLR(optimizer, CosineWithWarmup(total_steps, warmup_steps, 1.0))


class CosineWithWarmup:
    """lr multiplier: linear 0 -> 1 over ``warmup_steps``, then cosine 1 -> ``floor``.

    A class (not a closure) so the scheduler's state dict stays plain data.
    """

    def __init__(self, total_steps: int, warmup_steps: int, floor: float) -> None:
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.floor = float(floor)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def learning_rates(optimizer: Optimizer) -> list[float]:
    return [float(group["lr"]) for group in optimizer.param_groups]


__all__ = [
    "CosineWithWarmup",
    "build_optimizer",
    "build_scheduler",
    "learning_rates",
    "optimizer_class",
]
