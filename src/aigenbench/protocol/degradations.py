"""The record of an evaluation image's mandatory degradations: one small integer, a bit per step.

The protocol degrades every evaluation image by up to six steps in a fixed order (PROTOCOL.md
§6): grayscale, JPEG, Gaussian noise, JPEG, random resized crop, JPEG. Which steps an image gets
is drawn from (base seed, image ID) alone, so it can be written beside the predictions (key
``degradations``, one code per image aligned with ``identifier``) and metrics sliced by it.
A code is the sum of the bits of the steps applied; 0 means none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

DEGRADATION_STEPS: dict[str, int] = {
    "grayscale": 1,
    "jpeg1": 2,
    "noise": 4,
    "jpeg2": 8,
    "resized_crop": 16,
    "jpeg3": 32,
}
"""Step name -> its bit in a degradation code, in the protocol's order."""

JPEG_STEPS = ("jpeg1", "jpeg2", "jpeg3")


def degradation_code(steps: Iterable[str]) -> int:
    """The code of a set of applied steps (names of :data:`DEGRADATION_STEPS`)."""
    return sum(DEGRADATION_STEPS[step] for step in set(steps))


def jpeg_count(codes: np.ndarray) -> np.ndarray:
    """How many times each image was JPEG-compressed by the protocol (0 to 3)."""
    codes = np.asarray(codes, dtype=np.int64)
    count = np.zeros(codes.shape, dtype=np.int64)
    for step in JPEG_STEPS:
        count += (codes & DEGRADATION_STEPS[step]) != 0
    return count


def _has(step: str) -> Callable[[np.ndarray], np.ndarray]:
    bit = DEGRADATION_STEPS[step]
    return lambda codes: (np.asarray(codes, dtype=np.int64) & bit) != 0


DEGRADATION_SLICES: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "none": ("no degradation", lambda codes: np.asarray(codes) == 0),
    "jpeg_never": ("never JPEG'd", lambda codes: jpeg_count(codes) == 0),
    "jpeg_once": ("JPEG'd once", lambda codes: jpeg_count(codes) == 1),
    "jpeg_twice": ("JPEG'd twice or more", lambda codes: jpeg_count(codes) >= 2),
    "grayscale": ("grayscale", _has("grayscale")),
    "noise": ("Gaussian noise", _has("noise")),
    "resized_crop": ("resized crop", _has("resized_crop")),
}
"""Slice name -> (title, the images' membership as a function of their codes)."""
