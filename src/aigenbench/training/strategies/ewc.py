"""Elastic Weight Consolidation, online (Kirkpatrick et al. 2017; Schwarz et al. 2018).

When window k's weights are final, the diagonal Fisher of the trainable parameters is estimated on
window k's own training rows (copy 0, eval mode so batch-norm statistics stay untouched): the
mean over mini-batches (``fisher_batch_size`` rows) of the squared gradient of the method's loss,
as Avalanche does. Online
EWC keeps one Fisher and one anchor: ``F <- decay * F_previous + F_k`` and ``theta* <- theta_k``.
Window k+1 adds ``lambda / 2 * sum_i F_i (theta_i - theta*_i)^2`` to its loss: zero at the anchor,
growing fastest along the weights that mattered.

Parameters are matched by name; those without a Fisher (never trainable when one was estimated,
e.g. a backbone frozen so far) are not held.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from aigenbench.training.strategies.base import Batches, StrategyPlugin

FISHER = "ewc.fisher."
ANCHOR = "ewc.anchor."


def ewc_penalty(
    parameters: Mapping[str, torch.Tensor],
    fisher: Mapping[str, torch.Tensor],
    anchor: Mapping[str, torch.Tensor],
    weight: float,
) -> torch.Tensor | None:
    """``weight / 2 * sum_i F_i (theta_i - anchor_i)^2`` over the parameters that have a Fisher."""
    total: torch.Tensor | None = None
    for name, importance in fisher.items():
        parameter = parameters.get(name)
        if parameter is None:
            continue
        if importance.device != parameter.device:
            importance = importance.to(parameter.device)
        reference = anchor[name].to(parameter.device)
        term = (importance * (parameter.float() - reference).pow(2)).sum()
        total = term if total is None else total + term
    return None if total is None else 0.5 * weight * total


def method_loss(module: Any, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The training loss the module's method computes for ``batch`` (its extra terms included)."""
    if hasattr(module, "compute_loss"):
        terms = module.compute_loss(module.outputs(batch), batch)
        return terms if isinstance(terms, torch.Tensor) else terms["loss"]
    return module.training_loss(module(batch), batch)


def estimate_fisher(
    module: Any, batches: Any, device: torch.device
) -> tuple[dict[str, torch.Tensor], int]:
    """Diagonal Fisher of ``module``'s trainable detector parameters: the mean over ``batches`` of
    the squared gradient of the method's loss; returns it and the number of rows seen."""
    parameters = {name: p for name, p in module.detector.named_parameters() if p.requires_grad}
    fisher = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in parameters.items()}
    was_training = module.training
    module.eval()
    n_batches = rows = 0
    try:
        with torch.enable_grad():
            for batch in batches:
                batch = {key: value.to(device) for key, value in batch.items()}
                module.zero_grad(set_to_none=True)
                method_loss(module, batch).backward()
                for name, p in parameters.items():
                    if p.grad is not None:
                        fisher[name] += p.grad.detach().float().pow(2)
                n_batches += 1
                rows += len(batch["id"])
    finally:
        module.zero_grad(set_to_none=True)
        module.train(was_training)
    if n_batches:
        for value in fisher.values():
            value /= n_batches
    return {name: value.cpu() for name, value in fisher.items()}, rows


class EWCPlugin(StrategyPlugin):
    """The quadratic penalty towards the anchor; a new Fisher and anchor when the window ends."""

    name = "ewc"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tensors = self.context.previous_tensors
        self.fisher = {k[len(FISHER) :]: v for k, v in tensors.items() if k.startswith(FISHER)}
        self.anchor = {k[len(ANCHOR) :]: v for k, v in tensors.items() if k.startswith(ANCHOR)}
        self._on_device: torch.device | None = None

    def penalty(
        self, module: Any, batch: Mapping[str, torch.Tensor], logits: torch.Tensor
    ) -> torch.Tensor | None:
        if not self.fisher or self.config.ewc_lambda == 0:
            return None
        if self._on_device != logits.device:  # moved once, not every step
            self.fisher = {k: v.to(logits.device) for k, v in self.fisher.items()}
            self.anchor = {k: v.to(logits.device) for k, v in self.anchor.items()}
            self._on_device = logits.device
        parameters = dict(module.detector.named_parameters())
        return ewc_penalty(parameters, self.fisher, self.anchor, self.config.ewc_lambda)

    def fisher_rows(self) -> list[int]:
        """The rows the Fisher is estimated on: all the window's own, or a seeded subset."""
        own = sorted(self.context.own_ids)
        limit = self.config.fisher_samples
        if not limit or limit >= len(own):
            return own
        import numpy as np

        words = [7014, self.context.seed, self.context.window]
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))
        return sorted(own[i] for i in rng.choice(len(own), size=limit, replace=False))

    def after_window(self, module: Any, batches: Batches, device: torch.device) -> None:
        rows_in = batches(self.fisher_rows(), self.config.fisher_batch_size)
        new, rows = estimate_fisher(module, rows_in, device)
        self.costs.extra_forward_images += rows
        decay = self.config.ewc_decay
        for name, value in self.fisher.items():
            value = value.cpu()
            new[name] = new[name] + decay * value if name in new else decay * value
        self.fisher = new
        self.anchor = {
            name: p.detach().float().cpu().clone()
            for name, p in module.detector.named_parameters()
            if name in new
        }
        self._on_device = None

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tensors = {FISHER + k: v.cpu().contiguous() for k, v in self.fisher.items()}
        tensors.update({ANCHOR + k: v.cpu().contiguous() for k, v in self.anchor.items()})
        return {"ewc_parameters": len(self.fisher)}, tensors
