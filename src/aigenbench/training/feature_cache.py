"""Frozen-backbone features computed once and reused: the feature store.

With a frozen backbone (``probe``, or ``staged`` before its switch), an image's features are
a pure function of its tensor. Evaluation images are degraded identically in every window
(seeded by image ID), so their features are computed once per experiment and read back by
every window; training images too, per (image, augmentation copy), when the training pipeline
has no stochastic part. The head then trains and scores on the stored vectors.

The rows are known before anything is computed: the image IDs of an evaluation set, or of the
experiment's training rows, each with ``copies`` items (augmentation copies) of at most
``crops`` feature rows (evaluation crops). So a store is a preallocated table, filled in place::

    store = FeatureStore(root, ids=evaluation_ids, crops=5, dim=768, fingerprint=fp)
    items = store.items(ids)                      # item = (ID position, copy)
    store.verify(items)                           # damaged items unmarked, computed again
    todo = items[~store.filled(items)]            # what an interrupted run still lacks
    store.write(todo, crop_counts, features, valid)  # features first, then the marks
    batch = store.read(items)                     # features [rows, dim], crop_to_image, ...

A store is a :class:`~aigenbench.training.row_store.RowStore` folder: ``features.npy``
(``[items x crops, dim]``, memory-mapped), ``checksums.npy`` (one checksum per item),
``filled.npy`` (one byte per item) and ``header.json`` (the fingerprint and the shape), written
last. Crash safety, the size and checksum checks (a truncated, zeroed or swapped store is named
and its rows computed again) and the fingerprint rules are the row store's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from aigenbench.errors import ConfigError
from aigenbench.models.detector import Detector
from aigenbench.models.pretrained import state_hash
from aigenbench.scoring import crop_image_index, crop_positions
from aigenbench.training.row_store import (
    MAX_CROPS,
    UNREADABLE,
    ArrayLike,
    RowStore,
    as_int64,
    fingerprint_hash,
    ids_hash,
)

__all__ = [
    "MAX_CROPS",
    "UNREADABLE",
    "FeatureStore",
    "feature_fingerprint",
    "fingerprint_hash",
    "ids_hash",
]

FORMAT = 4
"""Bumped when cached features of the same settings would change, or the files' layout
(3: a preallocated table per set of rows; 4: with a checksum per item)."""
HEADER, FEATURES, FILLED = "header.json", "features.npy", "filled.npy"
OFF = "--experiment.feature_cache off"
_as_int64 = as_int64


def feature_fingerprint(detector: Detector, **pipeline: Any) -> dict[str, Any]:
    """What a frozen backbone's features depend on, for :class:`FeatureStore`.

    The backbone's name and a hash of its weights and buffers, its normalisation and input
    size; add everything of the pixel pipeline the features depend on as keywords (crop
    strategy, degradation settings and seed, the data source, precision, channels-last), e.g.
    ``feature_fingerprint(det, crop="resize", precision="32-true")``.
    """
    return {
        "format": FORMAT,
        "backbone": detector.backbone_name,
        "weights": state_hash(detector.backbone),
        "mean": [round(float(v), 8) for v in detector.mean.flatten().tolist()],
        "std": [round(float(v), 8) for v in detector.std.flatten().tolist()],
        "input_size": detector.input_size,
        **pipeline,
    }


class FeatureStore(RowStore):
    """Feature rows of known images on disk: ``copies`` items per image ID, each of at most
    ``crops`` rows of ``dim`` values (:class:`~aigenbench.training.row_store.RowStore`: the
    files and the guarantees).

    ``dtype`` float32 keeps cached features bit-identical to computed ones; float16 halves the
    disk. ``writable=False`` opens an existing store to read (a DDP rank other than 0).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        ids: ArrayLike,
        dim: int,
        fingerprint: str | Mapping[str, Any],
        copies: int = 1,
        crops: int = 1,
        dtype: str = "float32",
        writable: bool = True,
        say: Callable[[str], None] | None = None,
    ) -> None:
        if dtype not in ("float32", "float16"):
            raise ConfigError(f"feature cache dtype must be float32 or float16, got {dtype!r}")
        self.dim = int(dim)
        super().__init__(
            root,
            ids=ids,
            row_shape=(self.dim,),
            dtype=dtype,
            fingerprint=fingerprint,
            layout=FORMAT,
            copies=copies,
            crops=crops,
            writable=writable,
            say=say,
            what="feature cache",
            off=OFF,
            table=FEATURES,
        )

    def read(self, items: np.ndarray) -> dict[str, torch.Tensor]:
        """The stored rows of ``items``, in item order: ``features`` ``[R, dim]`` (float32),
        ``crop_to_image`` (0..len(items)-1), ``crop`` (crop index), ``valid``. A KeyError names
        an item not computed yet."""
        rows, counts, valid = self.read_rows(items)
        return {
            "features": torch.from_numpy(np.asarray(rows, dtype=np.float32)),
            "crop_to_image": torch.from_numpy(crop_image_index(counts)),
            "crop": torch.from_numpy(crop_positions(counts)),
            "valid": torch.from_numpy(np.repeat(valid, counts)),
        }


# ----------------------------------------------------------------------------- cached batches


def _passthrough(batch: Any) -> Any:
    return batch


class CachedTrainingSet(Dataset):
    """Training rows ``(id, copy)`` read from a store: batches with ``features`` for ``image``.

    Give it the same (ID, copy) sequence as the image dataset it replaces and the same
    sampler: the batches then hold the same rows in the same order.
    """

    def __init__(
        self,
        store: FeatureStore,
        ids: ArrayLike,
        copies: ArrayLike,
        labels: ArrayLike,
        generator_ids: ArrayLike,
    ) -> None:
        self.store = store
        self.ids, self.copies = _as_int64(ids), _as_int64(copies)
        self.labels, self.generator_ids = _as_int64(labels), _as_int64(generator_ids)
        if not len(self.ids) == len(self.copies) == len(self.labels) == len(self.generator_ids):
            raise ValueError("ids, copies, labels and generator_ids must have one value per row")
        self.items = store.items(self.ids, self.copies)
        missing = ~store.filled(self.items)
        if missing.any():
            raise KeyError(
                f"feature cache {store.root} lacks {int(missing.sum())} training rows: "
                "extract them first"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = np.asarray(indices, dtype=np.int64)
        return {
            "features": self.store.read(self.items[rows])["features"],
            "label": torch.from_numpy(self.labels[rows]),
            "generator_id": torch.from_numpy(self.generator_ids[rows]),
            "id": torch.from_numpy(self.ids[rows]),
            "copy": torch.from_numpy(self.copies[rows]),
        }


class CachedEvaluationSet(Dataset):
    """Evaluation images read from a store: batches of crops with ``features`` for ``image``.

    ``ids`` in evaluation order; a batch holds whole images (all their crops, consecutive)
    with ``crop_to_image`` numbered per batch, as image batches are.
    """

    def __init__(
        self, store: FeatureStore, ids: ArrayLike, labels: ArrayLike, generator_ids: ArrayLike
    ) -> None:
        self.store = store
        self.ids = _as_int64(ids)
        self.labels, self.generator_ids = _as_int64(labels), _as_int64(generator_ids)
        if not len(self.ids) == len(self.labels) == len(self.generator_ids):
            raise ValueError("ids, labels and generator_ids must have one value per image")
        self.items = store.items(self.ids)
        missing = ~store.filled(self.items)
        if missing.any():
            raise KeyError(
                f"feature cache {store.root} lacks {int(missing.sum())} evaluation images (e.g. "
                f"{self.ids[missing][:3].tolist()}): extract them first"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = np.asarray(indices, dtype=np.int64)
        batch = self.store.read(self.items[rows])
        image = batch["crop_to_image"].numpy()
        batch["id"] = torch.from_numpy(self.ids[rows][image])
        batch["label"] = torch.from_numpy(self.labels[rows][image])
        batch["generator_id"] = torch.from_numpy(self.generator_ids[rows][image])
        return batch


def feature_loader(
    dataset: CachedTrainingSet | CachedEvaluationSet,
    batch_size: int,
    *,
    sampler: Sampler[int] | None = None,
) -> DataLoader:
    """A DataLoader of cached batches (read in bulk; no worker processes needed)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        sampler=sampler,
        collate_fn=_passthrough,
        num_workers=0,
    )
