"""Replay: a fixed budget of earlier windows' training rows, trained on again in later windows.

The memory holds **row IDs**, not images (it costs no disk: the rows are read from the dataset
like any other, through the same pipelines and feature cache). It is organised in groups: the
fakes of each generator (``fake:<generator id>``) and the reals of each window
(``real:<window>``). Half the budget goes to each label; within a label it is shared as equally
as the groups' sizes allow (max-min fair, earlier groups first on a tie). When a window ends its
own rows form new groups, every group's share is recomputed (shares only shrink as groups are
added) and each group keeps the first rows of its priority order:

- ``random``: a permutation of the group's sorted IDs drawn from (experiment seed, window, group),
  so the memory is the same for any number of workers or processes;
- ``herding`` (iCaRL, Rebuffi et al. 2017): greedily the rows whose running mean of L2-normalised
  features stays closest to the group's mean, with the window's final detector (one forward pass
  per row, copy 0, in eval mode).

Window k trains on its own rows plus the memory left by window k-1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aigenbench.protocol import REAL_GENERATOR
from aigenbench.training.strategies.base import Batches, StrategyPlugin

REPLAY_STREAM = 7013
"""Mixed into the replay draws' seed so they share no random stream with anything else."""
STATE_KEY = "replay_memory"
HERDING_BATCH = 64
"""Rows per forward pass of herding (eval mode: the features do not depend on it)."""


def balanced_quotas(sizes: Sequence[int], budget: int) -> list[int]:
    """Share ``budget`` among groups as equally as their ``sizes`` allow (max-min fair);
    a remainder goes one each to the first groups that still have rows."""
    quotas = [0] * len(sizes)
    remaining = int(budget)
    open_groups = [i for i, size in enumerate(sizes) if size > 0]
    while remaining > 0 and open_groups:
        share, left = divmod(remaining, len(open_groups))
        if share == 0:
            for i in open_groups[:left]:
                quotas[i] += 1
            break
        still_open = []
        for i in open_groups:
            given = min(share, sizes[i] - quotas[i])
            quotas[i] += given
            remaining -= given
            if quotas[i] < sizes[i]:
                still_open.append(i)
        open_groups = still_open
    return quotas


def group_rows(
    ids: Sequence[int], generators: Sequence[str], names: Sequence[str], window: int
) -> dict[str, list[int]]:
    """A window's rows by memory group, each group's IDs sorted."""
    generator_id = {name: i for i, name in enumerate(names)}
    groups: dict[str, list[int]] = {}
    for row_id, generator in zip(ids, generators, strict=True):
        key = f"real:{window}" if generator == REAL_GENERATOR else f"fake:{generator_id[generator]}"
        groups.setdefault(key, []).append(int(row_id))
    return {key: sorted(rows) for key, rows in groups.items()}


def _label(key: str) -> str:
    return key.split(":", 1)[0]


def _order_key(key: str) -> tuple[int, int]:
    kind, number = key.split(":", 1)
    return (0 if kind == "real" else 1, int(number))


def random_order(rows: Sequence[int], seed: int, window: int, key: str) -> list[int]:
    """The group's sorted rows in an order drawn from (seed, window, group) only."""
    kind, number = _order_key(key)
    words = [REPLAY_STREAM, int(seed), int(window), kind, number]
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))
    ordered = sorted(rows)
    return [ordered[i] for i in rng.permutation(len(ordered))]


def herding_order(features: torch.Tensor, count: int) -> list[int]:
    """Positions of ``count`` rows chosen greedily so their running mean tracks the mean (iCaRL)."""
    features = F.normalize(features.double(), dim=1)
    mean = features.mean(dim=0)
    chosen: list[int] = []
    total = torch.zeros_like(mean)
    available = torch.ones(len(features), dtype=torch.bool)
    for k in range(1, min(count, len(features)) + 1):
        distance = torch.linalg.vector_norm(mean - (total + features) / k, dim=1)
        distance[~available] = float("inf")
        best = int(torch.argmin(distance))
        chosen.append(best)
        available[best] = False
        total += features[best]
    return chosen


def update_memory(
    memory: Mapping[str, Sequence[int]],
    new_groups: Mapping[str, Sequence[int]],
    budget: int,
    order: Any,
) -> dict[str, list[int]]:
    """The memory after a window: old groups truncated to their new shares, new groups filled
    with ``order(key, rows, count)`` (the first ``count`` rows of the group's priority order)."""
    sizes = {key: len(rows) for key, rows in memory.items()}
    sizes.update({key: len(rows) for key, rows in new_groups.items()})
    keys = sorted(sizes, key=_order_key)
    shares: dict[str, int] = {}
    for label, label_budget in (("real", budget - budget // 2), ("fake", budget // 2)):
        members = [key for key in keys if _label(key) == label]
        for key, quota in zip(
            members, balanced_quotas([sizes[k] for k in members], label_budget), strict=True
        ):
            shares[key] = quota
    updated: dict[str, list[int]] = {}
    for key in keys:
        if key in new_groups:
            rows = list(order(key, list(new_groups[key]), shares[key]))[: shares[key]]
        else:
            rows = list(memory[key])[: shares[key]]
        if rows:
            updated[key] = [int(r) for r in rows]
    return updated


class ReplayPlugin(StrategyPlugin):
    """Adds the memory to the window's rows; refreshes the memory when the window ends."""

    name = "replay"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        previous = self.context.previous_state.get(STATE_KEY, {})
        self.memory: dict[str, list[int]] = {k: list(v) for k, v in previous.items()}

    def extra_training_ids(self) -> list[int]:
        return [
            row_id for key in sorted(self.memory, key=_order_key) for row_id in self.memory[key]
        ]

    def after_window(self, module: Any, batches: Batches, device: torch.device) -> None:
        plan, window = self.context.plan, self.context.window
        own = self.context.own_ids
        generator_of = dict(zip(plan.train.ids, plan.train.generators, strict=True))
        new_groups = group_rows(own, [generator_of[i] for i in own], plan.generator_names, window)

        def order(key: str, rows: list[int], count: int) -> list[int]:
            if self.config.selection == "random":
                return random_order(rows, self.context.seed, window, key)
            features = self._features(module, batches, rows, device)
            return [rows[p] for p in herding_order(features, count)]

        self.memory = update_memory(self.memory, new_groups, self.config.memory_size, order)

    def _features(
        self, module: Any, batches: Batches, rows: list[int], device: torch.device
    ) -> torch.Tensor:
        detector = module.detector
        was_training = detector.training
        detector.eval()
        chunks = []
        try:
            with torch.no_grad():
                for batch in batches(rows, HERDING_BATCH):
                    if "features" in batch:
                        chunks.append(batch["features"].float().cpu())
                    else:
                        images = batch["image"].to(device)
                        chunks.append(detector.features(detector.normalize(images)).float().cpu())
                    self.costs.extra_forward_images += len(batch["id"])
        finally:
            detector.train(was_training)
        return torch.cat(chunks)

    def state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return {
            STATE_KEY: {key: self.memory[key] for key in sorted(self.memory, key=_order_key)}
        }, {}
