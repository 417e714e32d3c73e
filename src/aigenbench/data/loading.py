"""Torch datasets of a window: rows of a source -> decoded, pipelined samples. Usable without
Lightning (the feature cache and ``predict`` use them directly).

An image that cannot be decoded never stops a run:

- in training it is replaced by another row of the same label, chosen from a seed of its ID (the
  same replacement in every run and worker); the sample then *is* that row (its ID, generator
  and pixels), so nothing downstream sees a mismatch;
- in evaluation it becomes one black placeholder crop with ``valid=False``.

Either way the ID, the path and the reason are logged once per process and kept in
``dataset.unreadable`` (ID -> reason).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from aigenbench.data.decode import (
    DEFAULT_MAX_PIXELS,
    EncodedImage,
    UnreadableImage,
    decode_image,
)
from aigenbench.data.pipelines import EvalPipeline, TrainPipeline
from aigenbench.data.seeding import BENCHMARK_AUGMENTATION_SEED, Stream, sample_rng
from aigenbench.data.sources import ImageSource
from aigenbench.errors import DataError
from aigenbench.protocol import REAL_GENERATOR

log = logging.getLogger("aigenbench.data")

MAX_REPLACEMENT_TRIES = 32


def worker_init_fn(worker_id: int) -> None:
    """One thread per DataLoader worker for OpenCV and torch (the workers are the parallelism)."""
    del worker_id
    limit_threads()


def limit_threads() -> None:
    """One torch thread; OpenCV is single-threaded already (``aigenbench.data.opencv``)."""
    torch.set_num_threads(1)


def read_image(
    source: ImageSource, split: str, row_id: int, pipeline: object, max_pixels: int
) -> np.ndarray | EncodedImage:
    """Row ``row_id`` as ``pipeline`` takes it: still encoded when the pipeline
    ``decodes_regions`` (its crop-if-large decodes only the region it keeps), else decoded."""
    data = source.read(split, row_id)
    if getattr(pipeline, "decodes_regions", False):
        return EncodedImage(bytes(data), max_pixels)
    return decode_image(data, max_pixels)


def _label_of(generator: str) -> int:
    return 0 if generator == REAL_GENERATOR else 1


def _generator_ids(generators: Sequence[str], generator_names: Sequence[str]) -> list[int]:
    index = {name: i for i, name in enumerate(generator_names)}
    missing = sorted({name for name in generators if name not in index})
    if missing:
        raise DataError(f"generator(s) {missing[:5]} have no generator id in this benchmark")
    return [index[name] for name in generators]


class TrainingDataset(Dataset):
    """``len(ids) x augmentation_factor`` samples; sample ``i`` is copy ``i % factor`` of row
    ``ids[i // factor]``. Index it with ``i`` or with ``(i, epoch)`` (what ``WindowSampler``
    yields); returns ``{"image", "label", "generator_id", "id", "copy"}``."""

    def __init__(
        self,
        source: ImageSource,
        ids: Sequence[int],
        generators: Sequence[str],
        generator_names: Sequence[str],
        pipeline: TrainPipeline,
        augmentation_factor: int = 1,
        window: int = 0,
        split: str = "train",
        seed: int = BENCHMARK_AUGMENTATION_SEED,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if len(ids) != len(generators):
            raise ValueError("ids and generators must have the same length")
        if not ids:
            raise DataError("this training window has no rows")
        self.source = source
        self.ids = np.asarray(ids, dtype=np.int64)
        self.generators = list(generators)
        self.labels = np.asarray([_label_of(name) for name in generators], dtype=np.int64)
        self.generator_ids = np.asarray(_generator_ids(generators, generator_names), dtype=np.int64)
        self.pipeline = pipeline
        self.augmentation_factor = int(augmentation_factor)
        self.window = int(window)
        self.split = split
        self.seed = int(seed)
        self.max_pixels = max_pixels
        self.unreadable: dict[int, str] = {}
        self.unreadable_log: Path | None = None
        """When set: each unreadable image is also appended to this JSON-lines file (loader
        workers are separate processes; appends of one short line do not interleave)."""
        self._same_label = {label: np.flatnonzero(self.labels == label) for label in (0, 1)}

    def __len__(self) -> int:
        return len(self.ids) * self.augmentation_factor

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        return self.sample(int(index), int(epoch))

    def sample(self, index: int, epoch: int = 0) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range (0..{len(self) - 1})")
        position, copy = divmod(index, self.augmentation_factor)
        position, tensor = self._pipelined(position, copy, epoch)
        row_id = int(self.ids[position])
        return {
            "image": tensor,
            "label": int(self.labels[position]),
            "generator_id": int(self.generator_ids[position]),
            "id": row_id,
            "copy": copy,
        }

    def decode_row(self, position: int) -> np.ndarray:
        """The decoded image of ``ids[position]`` (raises ``UnreadableImage`` naming it)."""
        row_id = int(self.ids[position])
        try:
            return decode_image(self.source.read(self.split, row_id), self.max_pixels)
        except UnreadableImage as error:
            raise error.at(f"ID {row_id} ({self.source.describe(self.split, row_id)})") from None

    def _pipelined(self, position: int, copy: int, epoch: int) -> tuple[int, torch.Tensor]:
        """(position, tensor) of the row, or of its deterministic replacement when unreadable.

        The pipeline gets the image still encoded when it ``decodes_regions`` (crop-if-large then
        decodes only its region), so decoding can fail inside it: both are tried together."""
        original = position
        label = int(self.labels[position])
        candidates = self._same_label[label]
        for attempt in range(MAX_REPLACEMENT_TRIES):
            row_id = int(self.ids[position])
            try:
                image = read_image(self.source, self.split, row_id, self.pipeline, self.max_pixels)
                return position, self.pipeline(image, row_id, copy, self.window, epoch)
            except UnreadableImage as error:
                where = f"ID {row_id} ({self.source.describe(self.split, row_id)})"
                self._report(row_id, error.at(where))
            rng = sample_rng(Stream.REPLACEMENT, self.seed, int(self.ids[original]), attempt)
            position = int(candidates[int(rng.integers(0, len(candidates)))])
        raise DataError(
            f"{MAX_REPLACEMENT_TRIES} images in a row could not be decoded while replacing ID "
            f"{int(self.ids[original])}; run `aigenbench data check` on the dataset"
        )

    def _report(self, row_id: int, error: UnreadableImage) -> None:
        if row_id not in self.unreadable:
            self.unreadable[row_id] = error.reason
            log.warning(
                "unreadable training image %s; replaced by another of the same label", error
            )
            if self.unreadable_log is not None:
                line = {
                    "id": row_id,
                    "path": self.source.describe(self.split, row_id),
                    "reason": error.reason,
                }
                self.unreadable_log.parent.mkdir(parents=True, exist_ok=True)
                with open(self.unreadable_log, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(line) + "\n")


class EvaluationDataset(Dataset):
    """Evaluated rows in evaluation order; item ``i`` is
    ``{"crops": [tensors], "label", "generator_id", "id", "valid"}`` for ``ids[i]``."""

    def __init__(
        self,
        source: ImageSource,
        ids: Sequence[int],
        generators: Sequence[str],
        generator_names: Sequence[str],
        pipeline: EvalPipeline,
        split: str = "validation",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        labels: Sequence[int] | None = None,
    ) -> None:
        if len(ids) != len(generators):
            raise ValueError("ids and generators must have the same length")
        self.source = source
        self.ids = np.asarray(ids, dtype=np.int64)
        self.generators = list(generators)
        self.labels = np.asarray(
            [_label_of(name) for name in generators] if labels is None else list(labels),
            dtype=np.int64,
        )
        self.generator_ids = np.asarray(_generator_ids(generators, generator_names), dtype=np.int64)
        self.pipeline = pipeline
        self.split = split
        self.max_pixels = max_pixels
        self.unreadable: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row_id = int(self.ids[index])
        valid = True
        try:
            image = read_image(self.source, self.split, row_id, self.pipeline, self.max_pixels)
            crops = self.pipeline(image, row_id)
        except UnreadableImage as error:
            self._report(
                row_id, error.at(f"ID {row_id} ({self.source.describe(self.split, row_id)})")
            )
            crops, valid = self.pipeline.placeholder(), False
        return {
            "crops": crops,
            "label": int(self.labels[index]),
            "generator_id": int(self.generator_ids[index]),
            "id": row_id,
            "valid": valid,
        }

    def _report(self, row_id: int, error: UnreadableImage) -> None:
        if row_id not in self.unreadable:
            self.unreadable[row_id] = error.reason
            log.warning(
                "unreadable evaluation image %s; scored as a placeholder (valid=False)", error
            )
