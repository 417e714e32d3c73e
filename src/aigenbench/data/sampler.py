"""Sample orders: a seeded, resumable, distributed-aware training order and an evaluation sharder.

``WindowSampler`` yields ``(sample_index, epoch)`` pairs; the training dataset takes the pair, so
the epoch reaches the stochastic augmentation even in persistent workers. The order of an epoch is
a permutation seeded by (seed, window, epoch): the same on every run, whatever the workers.

**Resuming mid-epoch.** ``skip(n)`` (or ``load_state_dict({"epoch": e, "samples_done": n})``) makes
the next iteration of epoch ``e`` start after its first ``n`` samples (per rank), so a run killed
mid-epoch and resumed continues with exactly the samples an uninterrupted run would see.
``len()`` stays the full epoch length, as Lightning's progress counters expect.
``WindowDataModule`` does this for you from Lightning checkpoints (see its doc).

**Several processes.** With ``torch.distributed`` initialised, rank r takes every world-size-th
position of the (padded) permutation, like ``DistributedSampler``; give the Trainer
``use_distributed_sampler=False`` so Lightning keeps these samplers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from aigenbench.data.seeding import Stream, sample_rng


def _world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


class WindowSampler(Sampler[tuple[int, int]]):
    """Training order of one window: yields ``(index, epoch)`` with ``0 <= index < num_samples``."""

    def __init__(
        self,
        num_samples: int,
        seed: int,
        window: int,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        epoch: int = 0,
    ) -> None:
        if num_samples < 1:
            raise ValueError("a training window needs at least one sample")
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.window = int(window)
        self.shuffle = shuffle
        self._num_replicas = num_replicas
        self._rank = rank
        self.epoch = int(epoch)
        self._skip_epoch: int | None = None
        self._skip = 0

    @property
    def num_replicas(self) -> int:
        return self._num_replicas if self._num_replicas is not None else _world()[0]

    @property
    def rank(self) -> int:
        return self._rank if self._rank is not None else _world()[1]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def skip(self, samples_done: int, epoch: int | None = None) -> None:
        """Start the next iteration of ``epoch`` (default: the current one) after ``samples_done``
        samples of this rank."""
        if samples_done < 0:
            raise ValueError(f"samples_done must be >= 0, got {samples_done}")
        self._skip_epoch = self.epoch if epoch is None else int(epoch)
        self._skip = int(samples_done)

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "samples_done": self._skip if self._skip_epoch == self.epoch else 0,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.set_epoch(state["epoch"])
        self.skip(state.get("samples_done", 0), state["epoch"])

    def order(self, epoch: int) -> np.ndarray:
        """Every sample index of ``epoch`` for this rank, in order (before any skip)."""
        if self.shuffle:
            permutation = sample_rng(Stream.SHUFFLE, self.seed, self.window, epoch).permutation(
                self.num_samples
            )
        else:
            permutation = np.arange(self.num_samples)
        replicas = self.num_replicas
        if replicas > 1:
            total = -(-self.num_samples // replicas) * replicas
            permutation = np.resize(permutation, total)  # pads by repeating from the start
            permutation = permutation[self.rank :: replicas]
        return permutation

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        start = self._skip if self._skip_epoch == epoch else 0
        self._skip_epoch, self._skip = None, 0
        for index in self.order(epoch)[start:]:
            yield int(index), epoch

    def __len__(self) -> int:
        return -(-self.num_samples // self.num_replicas)


class ShardSampler(Sampler[int]):
    """Evaluation order: every index in order, or this rank's share (positions r, r + world, ...)
    when ``torch.distributed`` is initialised. No padding: no image is scored twice."""

    def __init__(
        self, num_samples: int, num_replicas: int | None = None, rank: int | None = None
    ) -> None:
        self.num_samples = int(num_samples)
        self._num_replicas = num_replicas
        self._rank = rank

    def _shard(self) -> range:
        world, rank = _world()
        world = self._num_replicas if self._num_replicas is not None else world
        rank = self._rank if self._rank is not None else rank
        return range(rank, self.num_samples, world)

    def __iter__(self) -> Iterator[int]:
        return iter(self._shard())

    def __len__(self) -> int:
        return len(self._shard())
