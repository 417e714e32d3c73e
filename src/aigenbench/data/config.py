"""The ``data`` section of a config: where the images are and how they become batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aigenbench.config_fields import RUNTIME
from aigenbench.errors import ConfigError

SourceKind = Literal["auto", "hf", "folder", "manifest"]


@dataclass
class DataConfig:
    """Dataset location, loaders and pixel pipelines (docs/PROTOCOL.md §2 and §6)."""

    source: str | None = field(default=None, metadata=RUNTIME)
    """Dataset path: a saved ``datasets.DatasetDict`` directory (the official format), an image
    folder ``ROOT/{train,validation}/{real,<generator>}/*``, or a manifest ``.csv``/``.jsonl``
    (columns path, label, generator, split)."""
    source_kind: SourceKind = field(default="auto", metadata=RUNTIME)
    """``auto`` detects the layout; or force ``hf``, ``folder`` or ``manifest``."""
    train_batch_size: int = 32
    """Training batch size per device (overall batch = this x accumulation x devices)."""
    eval_batch_size: int = field(default=64, metadata=RUNTIME)
    """Evaluation batch size per device, in images (a multicrop batch holds 5 crops per image)."""
    num_workers: int = field(default=4, metadata=RUNTIME)
    """DataLoader worker processes per device (0: load in the main process). The samples do not
    depend on it."""
    augmentation_factor: int = 4
    """Copies of each training image per epoch, each with its own deterministic augmentation (the
    paper's augmentation multiplier)."""
    augmentation_seed: int = 4321
    """Base seed of every data random draw: degradations, augmentations, training order."""
    maximum_processing_size: int | None = 1080
    """Images with a side above this are cropped to at most this square first (random position in
    training, central in evaluation); None disables it."""
    degradations: bool = True
    """Apply the mandatory evaluation degradations (benchmark mode). Off only for experiments that
    are not comparable with the leaderboard."""
    eval_jpeg_quality: list[int] = field(default_factory=lambda: [50, 101])
    """Qualities the evaluation JPEG steps draw from (official: [50, 101]; 101 acts as 100)."""
    eval_jpeg_quality_range: list[int] | None = None
    """``[low, high]``: draw the evaluation JPEG quality uniformly in this range instead of from
    ``eval_jpeg_quality``."""
    stochastic_augmentation: bool = True
    """Re-draw rot90/flip/crop every epoch (seeded by window and epoch). False: they are fixed per
    (image, copy), so a training sample depends only on (image ID, copy) and its features can be
    cached."""
    train_pipeline: dict[str, Any] | None = None
    """Replace the training pipeline: ``{class_path: module.Class, init_args: {...}}`` (default
    ``aigenbench.data.pipelines.TrainPipeline``)."""
    eval_pipeline: dict[str, Any] | None = None
    """Replace the evaluation pipeline: ``{class_path: module.Class, init_args: {...}}`` (default
    ``aigenbench.data.pipelines.EvalPipeline``)."""
    max_image_pixels: int = 1 << 27
    """Images above this many pixels are refused as unreadable (decompression-bomb guard)."""
    pixel_cache: bool = field(default=False, metadata=RUNTIME)
    """Decode once per experiment: keep each evaluation image's crops (after the mandatory
    degradations, ``uint8`` at the input size) on disk under ``runs/<id>/pixels/`` and read them
    back in every window; training images too, once per copy (the whole sample when
    ``stochastic_augmentation`` is false, else its deterministic part: the rest is redrawn per
    epoch).
    ``fit`` says how much disk it needs before it starts. The results do not depend on it."""
    pin_memory: bool | None = field(default=None, metadata=RUNTIME)
    """Page-lock batches for faster host-to-GPU copies (None: when CUDA is available)."""
    persistent_workers: bool = field(default=True, metadata=RUNTIME)
    """Keep worker processes alive between epochs and evaluations."""
    prefetch_factor: int = field(default=2, metadata=RUNTIME)
    """Batches each worker prepares ahead."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first impossible value."""
        positive = {
            "train_batch_size": self.train_batch_size,
            "eval_batch_size": self.eval_batch_size,
            "augmentation_factor": self.augmentation_factor,
            "prefetch_factor": self.prefetch_factor,
            "max_image_pixels": self.max_image_pixels,
        }
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"data.{name} must be a whole number >= 1, got {value!r}")
        if (
            isinstance(self.num_workers, bool)
            or not isinstance(self.num_workers, int)
            or self.num_workers < 0
        ):
            raise ConfigError(
                f"data.num_workers must be a whole number >= 0, got {self.num_workers!r}"
            )
        if self.augmentation_seed < 0:
            raise ConfigError(f"data.augmentation_seed must be >= 0, got {self.augmentation_seed}")
        if self.maximum_processing_size is not None and self.maximum_processing_size < 1:
            raise ConfigError(
                "data.maximum_processing_size must be >= 1 or null, got "
                f"{self.maximum_processing_size}"
            )
        if self.source_kind not in ("auto", "hf", "folder", "manifest"):
            raise ConfigError(
                f"data.source_kind must be auto, hf, folder or manifest, got {self.source_kind!r}"
            )
        check_eval_jpeg_quality(self.eval_jpeg_quality, self.eval_jpeg_quality_range)


def check_eval_jpeg_quality(
    qualities: Sequence[int], quality_range: Sequence[int] | None = None
) -> None:
    """The evaluation JPEG qualities: a list in 1..101, or a range ``[low, high]`` that wins."""
    if quality_range is not None:
        span = list(quality_range)
        if len(span) != 2 or not 1 <= span[0] <= span[1] <= 101:
            raise ConfigError(
                "data.eval_jpeg_quality_range must be [low, high] with 1 <= low <= high <= 101, "
                f"got {list(quality_range)!r}"
            )
    elif not qualities or not all(1 <= q <= 101 for q in qualities):
        raise ConfigError(
            f"data.eval_jpeg_quality must list qualities in 1..101, got {list(qualities)!r}"
        )
