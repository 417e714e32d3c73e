"""Frozen-backbone features computed once and reused: the feature cache.

With a frozen backbone (``probe``, or ``staged`` before its switch), an image's features are
a pure function of its tensor. Evaluation images are degraded identically in every window
(seeded by image ID), so their features can be computed once per experiment and read back by
every window; training images too, per (image, augmentation copy), when the training
pipeline has no stochastic part. The head then trains and scores on the cached vectors.

Usage (what the window runner does)::

    fp = feature_fingerprint(module.detector, crop="resize", pipeline=data_settings)
    store = FeatureStore(run_dir / "features" / "validate", fingerprint=fp,
                         dim=module.detector.feature_dim)
    extract_features(module.detector, eval_loader, store, part="validate")   # missing only
    loader = feature_loader(CachedEvaluationSet(store, "validate", ids, labels, gen_ids), 512)
    trainer.validate(module, loader)                                        # head only

A store is a directory: ``meta.json`` (fingerprint, feature size, dtype), ``index.npz``
(keys -> chunk and row) and ``chunk_*.npy`` files (memory-mapped when read). Writes go to a
temporary name and are renamed; the index is rewritten last, so a crash leaves the store as
it was at the last :meth:`FeatureStore.flush`. A different fingerprint empties the store.
One process writes a store at a time; any number read it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from aigenbench.errors import ConfigError
from aigenbench.files import write_atomic, write_text_atomic
from aigenbench.models.detector import Detector
from aigenbench.models.pretrained import state_hash

FORMAT = 2
"""Bumped when cached features of the same settings would change (2: the evaluation
degradations now draw their decisions before their pixels)."""
COPY_BITS = 20
"""Key code = image ID << COPY_BITS | copy: up to 2**20 copies/crops per image."""
MAX_COPY = (1 << COPY_BITS) - 1
_CHUNK = re.compile(r"chunk_(\d{6})\.npy$")
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


def feature_fingerprint(detector: Detector, **pipeline: Any) -> dict[str, Any]:
    """What a frozen backbone's features depend on, for :class:`FeatureStore`.

    The backbone's name and a hash of its weights and buffers, its normalisation and input
    size; add everything of the pixel pipeline the features depend on as keywords (crop
    strategy, degradation settings and seed, the data source, precision/autocast,
    channels-last), e.g. ``feature_fingerprint(det, crop="resize", precision="32-true")``.
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


class FeatureStore:
    """Feature vectors keyed by (part, image ID, copy), on disk.

    ``part`` names a set of images (``"validate"``, ``"train"``); ``copy`` is the augmentation
    copy of a training image or the crop index of an evaluation image. ``dtype`` float32 keeps
    cached features bit-identical to computed ones; float16 halves the disk.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        fingerprint: str | Mapping[str, Any],
        dim: int,
        dtype: str = "float32",
        chunk_rows: int = 16384,
    ) -> None:
        if dtype not in ("float32", "float16"):
            raise ConfigError(f"feature cache dtype must be float32 or float16, got {dtype!r}")
        self.root = Path(root)
        self.dim = int(dim)
        self.dtype = np.dtype(dtype)
        self.chunk_rows = int(chunk_rows)
        self.fingerprint = fingerprint_hash(fingerprint)
        self._fingerprint_data = fingerprint
        self.invalidated = False
        """True when this open found a store of another fingerprint and emptied it."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._chunks: dict[int, np.ndarray] = {}
        self._pending: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_rows = 0
        self._open()

    # ------------------------------------------------------------------ opening

    def _meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "fingerprint_data": self._fingerprint_data,
            "dim": self.dim,
            "dtype": self.dtype.name,
            "parts": self._parts,
        }

    def _open(self) -> None:
        meta_path = self.root / "meta.json"
        meta = None
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = None
        same = (
            meta is not None
            and meta.get("format") == FORMAT
            and meta.get("fingerprint") == self.fingerprint
            and meta.get("dim") == self.dim
            and meta.get("dtype") == self.dtype.name
        )
        if not same:
            self.invalidated = meta is not None
            self._clear_files()
            self._parts: list[str] = []
            self._set_index(*_empty_index())
            _atomic_json(meta_path, self._meta())
            return
        assert meta is not None  # `same` implies it
        self._parts = list(meta["parts"])
        index_path = self.root / "index.npz"
        if index_path.is_file():
            with np.load(index_path, allow_pickle=False) as data:
                self._set_index(
                    data["part"], data["code"], data["chunk"], data["row"], data["valid"]
                )
        else:
            self._set_index(*_empty_index())
        # Chunks written after the last index (an interrupted flush) and temporary files.
        referenced = set(np.unique(self._chunk).tolist())
        for path in self.root.iterdir():
            match = _CHUNK.match(path.name)
            if (match and int(match.group(1)) not in referenced) or path.name.startswith(".tmp"):
                path.unlink(missing_ok=True)

    def _clear_files(self) -> None:
        for path in self.root.iterdir():
            if (
                _CHUNK.match(path.name)
                or path.name in ("index.npz", "meta.json")
                or path.name.startswith(".tmp")
            ):
                path.unlink(missing_ok=True)
        self._chunks.clear()

    def _set_index(
        self,
        part: np.ndarray,
        code: np.ndarray,
        chunk: np.ndarray,
        row: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        # Sorted by (part, code): lookups are binary searches, a part's entries contiguous.
        order = np.lexsort((code, part))
        self._part = np.asarray(part, dtype=np.int16)[order]
        self._code = np.asarray(code, dtype=np.int64)[order]
        self._chunk = np.asarray(chunk, dtype=np.int32)[order]
        self._row = np.asarray(row, dtype=np.int64)[order]
        self._valid = np.asarray(valid, dtype=bool)[order]
        self._part_bounds = {
            p: (
                int(np.searchsorted(self._part, p, "left")),
                int(np.searchsorted(self._part, p, "right")),
            )
            for p in range(len(self._parts))
        }

    # ------------------------------------------------------------------ lookups

    def __len__(self) -> int:
        return len(self._code)

    def count(self, part: str) -> int:
        lo, hi = self._bounds(part)
        return hi - lo

    def _bounds(self, part: str) -> tuple[int, int]:
        if part not in self._parts:
            return 0, 0
        return self._part_bounds[self._parts.index(part)]

    def _positions(self, part: str, codes: np.ndarray) -> np.ndarray:
        """Index of each code in the (sorted) index, -1 when absent."""
        lo, hi = self._bounds(part)
        keys = self._code[lo:hi]
        at = np.searchsorted(keys, codes)
        found = at < len(keys)
        found[found] = keys[at[found]] == codes[found]
        return np.where(found, at + lo, -1)

    @staticmethod
    def _codes(ids: ArrayLike, copies: ArrayLike | None) -> np.ndarray:
        ids = _as_int64(ids)
        copies = np.zeros_like(ids) if copies is None else _as_int64(copies)
        if len(copies) != len(ids):
            raise ValueError(f"{len(ids)} ids but {len(copies)} copies")
        if len(ids) and (ids.min() < 0 or copies.min() < 0 or copies.max() > MAX_COPY):
            raise ValueError(f"image IDs must be >= 0 and copies in 0..{MAX_COPY}")
        return (ids << COPY_BITS) | copies

    def contains(self, part: str, ids: ArrayLike, copies: ArrayLike | None = None) -> np.ndarray:
        """Whether each (ID, copy) is stored (pending rows not yet flushed count too)."""
        codes = self._codes(ids, copies)
        found = self._positions(part, codes) >= 0
        if self._pending and part in self._parts:
            code = self._parts.index(part)
            pending = [c for p, c, _, _ in self._pending if p == code]
            if pending:
                found |= np.isin(codes, np.concatenate(pending))
        return found

    def missing_ids(self, part: str, ids: ArrayLike) -> np.ndarray:
        """The image IDs of ``ids`` with no entry at all in ``part`` (any copy/crop)."""
        ids = _as_int64(ids)
        lo, hi = self._bounds(part)
        keys = self._code[lo:hi]
        start = np.searchsorted(keys, ids << COPY_BITS, "left")
        end = np.searchsorted(keys, (ids + 1) << COPY_BITS, "left")
        return ids[end == start]

    def get(self, part: str, ids: ArrayLike, copies: ArrayLike | None = None) -> torch.Tensor:
        """Features ``[N, dim]`` (float32) of each (ID, copy); a KeyError names a missing one."""
        codes = self._codes(ids, copies)
        positions = self._positions(part, codes)
        if (positions < 0).any():
            bad = int(np.flatnonzero(positions < 0)[0])
            raise KeyError(
                f"feature cache {self.root} has no features for {part} image "
                f"{int(codes[bad] >> COPY_BITS)} copy {int(codes[bad] & MAX_COPY)}: "
                "extract them first"
            )
        return torch.from_numpy(self._read(positions))

    def crops(self, part: str, ids: ArrayLike) -> dict[str, torch.Tensor]:
        """Every stored crop of each image, in (image, crop) order, as an evaluation batch part.

        Returns ``features`` ``[C, dim]``, ``crop_to_image`` (0..len(ids)-1), ``crop``
        (crop index), ``valid``. A KeyError names an image without features.
        """
        ids = _as_int64(ids)
        lo, hi = self._bounds(part)
        keys = self._code[lo:hi]
        start = np.searchsorted(keys, ids << COPY_BITS, "left")
        end = np.searchsorted(keys, (ids + 1) << COPY_BITS, "left")
        counts = end - start
        if (counts == 0).any():
            bad = int(ids[np.flatnonzero(counts == 0)[0]])
            raise KeyError(f"feature cache {self.root} has no features for {part} image {bad}")
        positions = lo + np.concatenate([np.arange(s, e) for s, e in zip(start, end, strict=True)])
        return {
            "features": torch.from_numpy(self._read(positions)),
            "crop_to_image": torch.from_numpy(np.repeat(np.arange(len(ids)), counts)),
            "crop": torch.from_numpy(self._code[positions] & MAX_COPY),
            "valid": torch.from_numpy(self._valid[positions].copy()),
            "id": torch.from_numpy(np.repeat(ids, counts)),
        }

    def _read(self, positions: np.ndarray) -> np.ndarray:
        out = np.empty((len(positions), self.dim), dtype=np.float32)
        chunks = self._chunk[positions]
        rows = self._row[positions]
        for chunk in np.unique(chunks):
            selected = chunks == chunk
            out[selected] = self._chunk_array(int(chunk))[rows[selected]]
        return out

    def _chunk_array(self, chunk: int) -> np.ndarray:
        if chunk not in self._chunks:
            self._chunks[chunk] = np.load(self.root / f"chunk_{chunk:06d}.npy", mmap_mode="r")
        return self._chunks[chunk]

    # ------------------------------------------------------------------ writing

    def put(
        self,
        part: str,
        ids: ArrayLike,
        copies: ArrayLike | None,
        features: torch.Tensor | np.ndarray,
        valid: ArrayLike | None = None,
    ) -> None:
        """Add features (written at the next :meth:`flush`, or when a chunk fills up)."""
        codes = self._codes(ids, copies)
        if isinstance(features, torch.Tensor):
            features = features.detach().float().cpu().numpy()
        features = np.asarray(features)
        if features.shape != (len(codes), self.dim):
            raise ValueError(
                f"features of shape {features.shape}, expected ({len(codes)}, {self.dim})"
            )
        valid_array = (
            np.ones(len(codes), dtype=bool) if valid is None else _as_int64(valid).astype(bool)
        )
        if part not in self._parts:
            self._parts.append(part)
            _atomic_json(self.root / "meta.json", self._meta())
            self._part_bounds[len(self._parts) - 1] = (len(self._code), len(self._code))
        self._pending.append(
            (self._parts.index(part), codes, features.astype(self.dtype), valid_array)
        )
        self._pending_rows += len(codes)
        if self._pending_rows >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        """Write the pending features as a new chunk, then the index (atomically, in that order)."""
        if not self._pending:
            return
        part = np.concatenate([np.full(len(c), p, dtype=np.int16) for p, c, _, _ in self._pending])
        code = np.concatenate([c for _, c, _, _ in self._pending])
        data = np.concatenate([f for _, _, f, _ in self._pending])
        valid = np.concatenate([v for _, _, _, v in self._pending])
        chunk = int(self._chunk.max()) + 1 if len(self._chunk) else 0
        while (self.root / f"chunk_{chunk:06d}.npy").exists():
            chunk += 1
        _atomic_npy(self.root / f"chunk_{chunk:06d}.npy", data)
        # New entries replace old ones with the same key.
        keep = np.ones(len(self._code), dtype=bool)
        for p in np.unique(part):
            name = self._parts[int(p)]
            positions = self._positions(name, code[part == p])
            keep[positions[positions >= 0]] = False
        self._set_index(
            np.concatenate([self._part[keep], part]),
            np.concatenate([self._code[keep], code]),
            np.concatenate([self._chunk[keep], np.full(len(code), chunk, dtype=np.int32)]),
            np.concatenate([self._row[keep], np.arange(len(code), dtype=np.int64)]),
            np.concatenate([self._valid[keep], valid]),
        )
        _atomic_npz(
            self.root / "index.npz",
            part=self._part,
            code=self._code,
            chunk=self._chunk,
            row=self._row,
            valid=self._valid,
        )
        self._pending.clear()
        self._pending_rows = 0

    def close(self) -> None:
        self.flush()
        self._chunks.clear()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _empty_index() -> tuple[np.ndarray, ...]:
    return (
        np.zeros(0, np.int16),
        np.zeros(0, np.int64),
        np.zeros(0, np.int32),
        np.zeros(0, np.int64),
        np.zeros(0, bool),
    )


def _atomic_json(path: Path, data: Mapping[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, sort_keys=True, default=str))


def _atomic_npy(path: Path, array: np.ndarray) -> None:
    write_atomic(path, lambda handle: np.save(handle, array))


def _atomic_npz(path: Path, **arrays: Any) -> None:
    write_atomic(path, lambda handle: np.savez(handle, **arrays))


# ----------------------------------------------------------------------------- extraction


def batch_copies(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The store's ``copy`` of each row: the crop index in evaluation, ``copy`` in training."""
    n = len(batch["id"])
    if "crop_to_image" in batch:
        image = batch["crop_to_image"].long()
        change = torch.ones(n, dtype=torch.bool)
        change[1:] = image[1:] != image[:-1]
        starts = torch.nonzero(change).flatten()
        counts = torch.diff(starts, append=torch.tensor([n]))
        return torch.arange(n) - torch.repeat_interleave(starts, counts)
    if "copy" in batch:
        return batch["copy"].long()
    return torch.zeros(n, dtype=torch.long)


def extract_features(
    detector: Detector,
    batches: Iterable[Mapping[str, torch.Tensor]],
    store: FeatureStore,
    part: str,
    *,
    device: str | torch.device | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> int:
    """Compute and store the features of every row the store lacks; returns how many.

    ``batches`` are data-contract batch dicts (``image`` uint8, ``id``, and ``copy`` or
    ``crop_to_image``): evaluation rows are keyed by (ID, crop index), training rows by
    (ID, copy). Rows already stored are skipped (their images still pass through the loader:
    give it only :meth:`FeatureStore.missing_ids` to skip the decoding too).
    """
    device = torch.device(device) if device is not None else detector.mean.device
    was_training = detector.training
    detector.eval()
    computed = 0
    try:
        for batch in batches:
            ids = batch["id"].long().cpu()
            copies = batch_copies(
                {k: v.cpu() for k, v in batch.items() if k in ("id", "crop_to_image", "copy")}
            )
            needed = torch.from_numpy(~store.contains(part, ids, copies))
            if not needed.any():
                continue
            images = batch["image"][needed].to(device, non_blocking=True)
            with (
                torch.inference_mode(),
                torch.autocast(
                    device.type,
                    dtype=autocast_dtype or torch.float32,
                    enabled=autocast_dtype is not None,
                ),
            ):
                features = detector.features(detector.normalize(images))
            valid = batch["valid"][needed] if "valid" in batch else None
            store.put(part, ids[needed], copies[needed], features.float().cpu(), valid)
            computed += int(needed.sum())
    finally:
        store.flush()
        detector.train(was_training)
    return computed


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
        part: str,
        ids: ArrayLike,
        copies: ArrayLike,
        labels: ArrayLike,
        generator_ids: ArrayLike,
    ) -> None:
        self.store, self.part = store, part
        self.ids, self.copies = _as_int64(ids), _as_int64(copies)
        self.labels, self.generator_ids = _as_int64(labels), _as_int64(generator_ids)
        if not len(self.ids) == len(self.copies) == len(self.labels) == len(self.generator_ids):
            raise ValueError("ids, copies, labels and generator_ids must have one value per row")
        missing = ~store.contains(part, self.ids, self.copies)
        if missing.any():
            raise KeyError(
                f"feature cache {store.root} lacks {int(missing.sum())} {part} rows: "
                "extract them first"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = np.asarray(indices, dtype=np.int64)
        return {
            "features": self.store.get(self.part, self.ids[rows], self.copies[rows]),
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
        self,
        store: FeatureStore,
        part: str,
        ids: ArrayLike,
        labels: ArrayLike,
        generator_ids: ArrayLike,
    ) -> None:
        self.store, self.part = store, part
        self.ids = _as_int64(ids)
        self.labels, self.generator_ids = _as_int64(labels), _as_int64(generator_ids)
        if not len(self.ids) == len(self.labels) == len(self.generator_ids):
            raise ValueError("ids, labels and generator_ids must have one value per image")
        missing = store.missing_ids(part, self.ids)
        if len(missing):
            raise KeyError(
                f"feature cache {store.root} lacks {len(missing)} {part} images (e.g. "
                f"{missing[:3].tolist()}): extract them first"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = np.asarray(indices, dtype=np.int64)
        batch = self.store.crops(self.part, self.ids[rows])
        image = batch["crop_to_image"].numpy()
        batch["label"] = torch.from_numpy(self.labels[rows][image])
        batch["generator_id"] = torch.from_numpy(self.generator_ids[rows][image])
        return batch


def feature_loader(
    dataset: CachedTrainingSet | CachedEvaluationSet,
    batch_size: int,
    *,
    shuffle: bool = False,
    sampler: Sampler[int] | Iterator[int] | None = None,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader of cached batches (read in bulk; no worker processes needed)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle if sampler is None else False,
        sampler=sampler,  # type: ignore[arg-type]
        generator=generator,
        drop_last=drop_last,
        collate_fn=_passthrough,
        num_workers=0,
    )
