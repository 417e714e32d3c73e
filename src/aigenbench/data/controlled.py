"""Evaluation pixels under one controlled degradation, for the robustness sweep.

The protocol's own (random) degradations are off: each image is cropped if large, then gets
exactly one degradation of a chosen kind and strength, then the model's evaluation crop. Kinds
and strengths (as CNNDetection and SIDBench report them):

- ``jpeg``: re-encoded with Pillow at quality ``strength`` (1..100);
- ``resize``: scaled by the factor ``strength`` (> 0; 1 is the identity), bilinear antialiased;
- ``blur``: Gaussian blur of sigma ``strength`` pixels (>= 0; 0 is the identity);
- ``noise``: Gaussian noise of std ``strength`` x 255 per pixel and channel (>= 0; 0 is the
  identity), seeded by (base seed, image ID).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from aigenbench.data import ops
from aigenbench.data.crops import EvalCrop
from aigenbench.data.decode import EncodedImage
from aigenbench.data.pipelines import EvalPipeline, Trace
from aigenbench.data.seeding import BENCHMARK_AUGMENTATION_SEED, Stream, sample_rng
from aigenbench.errors import ConfigError

DegradationKind = Literal["jpeg", "resize", "blur", "noise"]
KINDS: tuple[str, ...] = get_args(DegradationKind)

DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "jpeg": (95, 85, 75, 65, 50, 30),
    "resize": (1.0, 0.75, 0.5, 0.25),
    "blur": (0.0, 0.5, 1.0, 2.0, 3.0),
    "noise": (0.0, 0.01, 0.02, 0.05, 0.1),
}
UNITS = {
    "jpeg": "JPEG quality",
    "resize": "resize factor",
    "blur": "blur sigma (px)",
    "noise": "noise std (x 255)",
}


def check_strength(kind: str, strength: float) -> float:
    """The strength as a float; a ConfigError naming the valid range otherwise."""
    if kind not in KINDS:
        raise ConfigError(f"unknown degradation kind {kind!r}; use one of {', '.join(KINDS)}")
    value = float(strength)
    valid = {
        "jpeg": 1 <= value <= 100 and value.is_integer(),
        "resize": 0 < value <= 8,
        "blur": 0 <= value <= 50,
        "noise": 0 <= value <= 1,
    }[kind]
    if not valid:
        ranges = {
            "jpeg": "a whole JPEG quality from 1 to 100",
            "resize": "a scale factor in (0, 8] (1 keeps the size)",
            "blur": "a sigma in pixels from 0 to 50 (0: no blur)",
            "noise": "a standard deviation from 0 to 1, in units of 255 (0: no noise)",
        }
        raise ConfigError(f"--strengths {strength} is not valid for {kind}: give {ranges[kind]}")
    return value


def degrade(image: np.ndarray, kind: str, strength: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` under one degradation (``rng`` draws the noise)."""
    if kind == "jpeg":
        return ops.jpeg(image, int(strength), "pillow")
    if kind == "resize":
        if strength == 1.0:
            return image
        height, width = image.shape[:2]
        return ops.resize(
            image,
            max(1, round(height * strength)),
            max(1, round(width * strength)),
            "bilinear",
        )
    if kind == "blur":
        return ops.gaussian_blur(image, strength)
    if kind == "noise":
        return image if strength == 0 else ops.gaussian_noise(image, strength * 255.0, rng)
    raise ConfigError(f"unknown degradation kind {kind!r}; use one of {', '.join(KINDS)}")


class ControlledDegradation(EvalPipeline):
    """An :class:`EvalPipeline` whose only degradation is ``kind`` at ``strength``."""

    def __init__(
        self,
        kind: DegradationKind,
        strength: float,
        *,
        input_size: int = 224,
        crop: EvalCrop = "resize",
        seed: int = BENCHMARK_AUGMENTATION_SEED,
        maximum_processing_size: int | None = 1080,
    ) -> None:
        super().__init__(
            input_size=input_size,
            crop=crop,
            seed=seed,
            maximum_processing_size=maximum_processing_size,
            degradations=False,
        )
        self.kind = kind
        self.strength = check_strength(kind, strength)

    def degrade(
        self, image: np.ndarray | EncodedImage, image_id: int, trace: Trace = None
    ) -> np.ndarray:
        image = super().degrade(image, image_id)  # crop-if-large only: degradations are off
        rng = sample_rng(Stream.ROBUSTNESS, self.seed, image_id)
        return degrade(image, self.kind, self.strength, rng)
