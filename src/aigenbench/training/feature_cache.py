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
    todo = items[~store.filled(items)]            # what an interrupted run still lacks
    store.write(todo, crop_counts, features, valid)  # features first, then the marks
    batch = store.read(items)                     # features [rows, dim], crop_to_image, ...

A store is a folder: ``features.npy`` (``[items x crops, dim]``, memory-mapped), ``filled.npy``
(one byte per item: 0 = not computed, else its number of crop rows, + 128 when the image was
unreadable) and ``header.json`` (the fingerprint and the shape), written last when the store is
created. **Crash safety**: :meth:`FeatureStore.write` flushes the features to disk before it
marks their items filled, and a mark is one byte, so a kill at any point leaves only complete
items marked; a rerun computes the unmarked ones. **Fingerprint**: what the features depend on
(backbone weights, pixel pipeline, the IDs); a store of another fingerprint is rebuilt, with a
message naming it. A damaged file is named with the fix (an :class:`~aigenbench.errors.DataError`).
One process writes a store (rank 0 under DDP), any number read it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from aigenbench.errors import ConfigError, DataError
from aigenbench.files import write_text_atomic
from aigenbench.models.detector import Detector
from aigenbench.models.pretrained import state_hash
from aigenbench.scoring import crop_image_index, crop_positions

FORMAT = 3
"""Bumped when cached features of the same settings would change, or the files' layout
(3: a preallocated table per set of rows)."""
UNREADABLE = 0x80
"""Set in an item's mark when its image could not be read (its rows are not ``valid``)."""
MAX_CROPS = UNREADABLE - 1
HEADER, FEATURES, FILLED = "header.json", "features.npy", "filled.npy"
ArrayLike = Sequence[int] | np.ndarray | torch.Tensor


def _as_int64(values: ArrayLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.int64).reshape(-1)


def fingerprint_hash(fingerprint: str | Mapping[str, Any]) -> str:
    """A stable hash of a fingerprint (a mapping is hashed as sorted JSON)."""
    text = (
        fingerprint
        if isinstance(fingerprint, str)
        else json.dumps(fingerprint, sort_keys=True, default=str)
    )
    return hashlib.sha256(text.encode()).hexdigest()


def ids_hash(ids: ArrayLike) -> str:
    """A hash of a set of image IDs (the rows a store holds are part of its fingerprint)."""
    return hashlib.sha256(np.unique(_as_int64(ids)).tobytes()).hexdigest()


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


def _differences(old: Any, new: Any) -> list[str]:
    """The top-level fingerprint keys whose values differ (for the rebuild message)."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return ["fingerprint"]
    keys = sorted(set(old) | set(new))
    return [k for k in keys if _canonical(old.get(k)) != _canonical(new.get(k))]


def _canonical(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


class FeatureStore:
    """Feature rows of known images on disk: ``copies`` items per image ID, each of at most
    ``crops`` rows (the module doc describes the files and the guarantees).

    ``writable=False`` opens an existing store to read (a DDP rank other than 0); a missing or
    other-fingerprint store is then an error. ``dtype`` float32 keeps cached features
    bit-identical to computed ones; float16 halves the disk. ``say`` receives the rebuild message.
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
        if not 1 <= crops <= MAX_CROPS:
            raise ValueError(f"crops must be in 1..{MAX_CROPS}, got {crops}")
        self.root = Path(root)
        self.ids = np.unique(_as_int64(ids))
        self.copies, self.crops, self.dim = int(copies), int(crops), int(dim)
        self.dtype = np.dtype(dtype)
        self.writable = writable
        self.rebuilt = False
        """True when this open found a store of other settings and started it afresh."""
        fingerprint_data = fingerprint if isinstance(fingerprint, str) else dict(fingerprint)
        header = {
            "format": FORMAT,
            "fingerprint": fingerprint_hash(fingerprint),
            "fingerprint_data": fingerprint_data,
            "ids": ids_hash(self.ids),
            "items": len(self.ids) * self.copies,
            "copies": self.copies,
            "crops": self.crops,
            "dim": self.dim,
            "dtype": self.dtype.name,
        }
        self.header: dict[str, Any] = json.loads(_canonical(header))  # as read back from disk
        self._say = say or (lambda text: None)
        self._open()

    # ------------------------------------------------------------------ opening

    @property
    def n_items(self) -> int:
        return len(self.ids) * self.copies

    def _open(self) -> None:
        found = self._read_header()
        if found != self.header:
            if not self.writable:
                raise DataError(
                    f"feature cache {self.root / HEADER} is missing or was built for other "
                    "settings; the process that writes it (rank 0) should have built it: run "
                    "again, or turn the cache off (--experiment.feature_cache off)"
                )
            if found is not None:
                changed = _differences(
                    found.get("fingerprint_data"), self.header["fingerprint_data"]
                )
                shape = [
                    key
                    for key in ("ids", "copies", "crops", "dim", "dtype")
                    if found.get(key) != self.header[key]
                ]
                self._say(
                    f"feature cache {self.root}: built for other settings (differs: "
                    f"{', '.join(changed + shape) or 'format'}); its features are discarded and "
                    "computed again"
                )
                self.rebuilt = True
            self._create()
        mode = "r+" if self.writable else "r"
        self._features = self._map(
            FEATURES, mode, (self.n_items * self.crops, self.dim), self.dtype
        )
        self._filled = self._map(FILLED, mode, (self.n_items,), np.dtype(np.uint8))

    def _read_header(self) -> dict[str, Any] | None:
        path = self.root / HEADER
        if not path.is_file():
            return None
        try:
            header = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(header, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as error:
            raise DataError(
                f"feature cache header {path} is damaged ({error}); delete the folder "
                f"{self.root} (its features are computed again) or turn the cache off "
                "(--experiment.feature_cache off)"
            ) from None
        return header

    def _create(self) -> None:
        """A new, empty store: the tables first, the header last (a kill before the header
        leaves a folder that the next open creates again)."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / HEADER).unlink(missing_ok=True)
        for old in self.root.glob("*"):  # an earlier version's store (chunks and an index)
            if old.name in ("meta.json", "index.npz") or old.name.startswith("chunk_"):
                old.unlink()
        for name, shape, dtype in (
            (FEATURES, (self.n_items * self.crops, self.dim), self.dtype),
            (FILLED, (self.n_items,), np.dtype(np.uint8)),
        ):
            temporary = self.root / f".{name}.tmp"
            table = np.lib.format.open_memmap(temporary, mode="w+", dtype=dtype, shape=shape)
            del table
            _reserve(temporary, self.root)
            os.replace(temporary, self.root / name)
        write_text_atomic(self.root / HEADER, _canonical(self.header))

    def _map(self, name: str, mode: str, shape: tuple[int, ...], dtype: np.dtype) -> np.memmap:
        path = self.root / name
        try:
            table = np.load(path, mmap_mode=mode)  # type: ignore[arg-type]
        except (OSError, ValueError, EOFError) as error:
            table, problem = None, str(error)
        else:
            problem = f"shape {table.shape} {table.dtype}, expected {shape} {dtype}"
        if table is None or table.shape != shape or table.dtype != dtype:
            raise DataError(
                f"feature cache file {path} is damaged ({problem}); delete the folder "
                f"{self.root} (its features are computed again) or turn the cache off "
                "(--experiment.feature_cache off)"
            )
        return table

    # ------------------------------------------------------------------ items

    def items(self, ids: ArrayLike, copies: ArrayLike | None = None) -> np.ndarray:
        """The item of each (image ID, copy); a KeyError names an ID the store does not hold."""
        ids = _as_int64(ids)
        copies_array = np.zeros_like(ids) if copies is None else _as_int64(copies)
        at = np.minimum(np.searchsorted(self.ids, ids), max(len(self.ids) - 1, 0))
        absent = (self.ids[at] != ids) if len(self.ids) else np.ones(len(ids), bool)
        if absent.any():
            raise KeyError(
                f"feature cache {self.root} has no row for image {int(ids[absent.argmax()])}"
            )
        if len(ids) and (copies_array.min() < 0 or copies_array.max() >= self.copies):
            raise KeyError(f"feature cache {self.root} holds copies 0..{self.copies - 1} only")
        return at * self.copies + copies_array

    def filled(self, items: np.ndarray) -> np.ndarray:
        """Whether each item's features are stored."""
        return np.asarray(self._filled[items]) != 0

    def count(self) -> int:
        """How many items are stored."""
        return int(np.count_nonzero(np.asarray(self._filled)))

    # ------------------------------------------------------------------ reading

    def read(self, items: np.ndarray) -> dict[str, torch.Tensor]:
        """The stored rows of ``items``, in item order: ``features`` ``[R, dim]`` (float32),
        ``crop_to_image`` (0..len(items)-1), ``crop`` (crop index), ``valid``. A KeyError names
        an item not computed yet."""
        marks = np.asarray(self._filled[items])
        if (marks == 0).any():
            raise KeyError(
                f"feature cache {self.root} has no features for item {int(items[marks.argmin()])} "
                "(image position x copies + copy): extract them first"
            )
        counts = (marks & MAX_CROPS).astype(np.int64)
        owner, crop = crop_image_index(counts), crop_positions(counts)
        rows = np.repeat(items * self.crops, counts) + crop
        features = np.asarray(self._features[rows], dtype=np.float32)
        return {
            "features": torch.from_numpy(features),
            "crop_to_image": torch.from_numpy(owner),
            "crop": torch.from_numpy(crop),
            "valid": torch.from_numpy(np.repeat((marks & UNREADABLE) == 0, counts)),
        }

    # ------------------------------------------------------------------ writing

    def write(
        self,
        items: np.ndarray,
        counts: np.ndarray,
        features: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        """Store the rows of ``items`` (``counts[i]`` rows each, consecutive in ``features``)
        and then mark them filled: the features reach the disk before their marks."""
        if not self.writable:
            raise RuntimeError(f"feature cache {self.root} was opened read-only")
        items, counts = _as_int64(items), _as_int64(counts)
        if len(items) == 0:
            return
        if counts.min() < 1 or counts.max() > self.crops:
            raise ValueError(f"1 to {self.crops} crop rows per item, got {counts.max()}")
        if features.shape != (int(counts.sum()), self.dim):
            raise ValueError(
                f"features of shape {features.shape}, expected ({counts.sum()}, {self.dim})"
            )
        rows = np.repeat(items * self.crops, counts) + crop_positions(counts)
        self._features[rows] = features.astype(self.dtype)
        self._features.flush()  # msync: the rows are on disk before any mark says so
        marks = counts.astype(np.uint8) | np.where(np.asarray(valid, bool), 0, UNREADABLE)
        self._filled[items] = marks.astype(np.uint8)
        self._filled.flush()

    def close(self) -> None:
        for table in (self._features, self._filled):
            if self.writable:
                table.flush()
        self._features = self._filled = None  # type: ignore[assignment]


def _reserve(path: Path, root: Path) -> None:
    """Give the table its disk space now: a full disk is an error here, not a crash (SIGBUS)
    while writing through the memory map later."""
    size = path.stat().st_size
    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as handle:
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
        except OSError as error:
            if error.errno in (getattr(os, "EOPNOTSUPP", -1), getattr(os, "EINVAL", -1)):
                return  # a file system without preallocation: the table stays sparse
            path.unlink(missing_ok=True)
            free = shutil.disk_usage(root).free
            raise DataError(
                f"feature cache {root} needs {size / 2**30:.2f} GiB and {free / 2**30:.2f} GiB "
                f"are free ({error.strerror}); free some disk space, or turn the cache off "
                "(--experiment.feature_cache off)"
            ) from None


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
