"""Per-sample random generators: randomness is keyed by what a sample *is*, never by who draws it.

Every random decision of the data package comes from :func:`sample_rng` with a *stream* tag and the
sample's keys, so the same image gets the same draws whatever the worker, the process, the batch
position or the number of workers (DESIGN.md, "Randomness").
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

BENCHMARK_AUGMENTATION_SEED = 4321
"""The official base seed of the augmentations (``augmentations_base_seed``)."""


class Stream(IntEnum):
    """Independent random streams (mixed into the seed so two streams never share draws)."""

    EVALUATION = 1
    """Mandatory evaluation degradations: keys (base seed, image ID)."""
    TRAIN_DETERMINISTIC = 2
    """Training crop-if-large + deterministic augmentation: keys (base seed, image ID, copy)."""
    TRAIN_STOCHASTIC = 3
    """Training rot90/flip/crop: keys (base seed, window, epoch, image ID, copy)."""
    SHUFFLE = 4
    """Training order of an epoch: keys (base seed, window, epoch)."""
    REPLACEMENT = 5
    """Which row replaces an unreadable training image: keys (base seed, image ID, attempt)."""
    ROBUSTNESS = 6
    """Noise of the robustness sweep's controlled degradation: keys (base seed, image ID)."""


def sample_rng(stream: Stream, seed: int, *keys: int) -> np.random.Generator:
    """A NumPy generator determined only by ``(stream, seed, *keys)`` (all non-negative ints)."""
    words = [int(stream), int(seed), *(int(key) for key in keys)]
    if any(word < 0 for word in words):
        raise ValueError(f"random keys must be non-negative, got {words}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))
