"""Decode once per experiment: model-ready pixels kept on disk and shared by every window.

Evaluation images are decoded, cropped-if-large, degraded and cropped identically in every
window (seeded by image ID), so their crops (``uint8`` at the model's input size) are computed
once per experiment and read back by every window: the cumulative protocol decodes each
evaluation image once instead of nine times. Training images are decoded once per (image ID,
augmentation copy) for the whole experiment:

- with the default, per-epoch augmentation the store keeps each copy's *deterministic part*
  (crop-if-large, then the seeded augmentation: ``TrainPipeline.deterministic_part``, seeded by
  (image ID, copy) only), whose size varies from image to image (at most the processing size,
  256 x 256 after the resized crop), in a :class:`~aigenbench.training.row_store.RaggedRowStore`
  (``pixels/train_deterministic``); the stochastic part (rot90, flip, the crop or resize to the
  input size, seeded by window and epoch) runs on the fly in the loader workers, as without the
  cache;
- with ``data.stochastic_augmentation: false`` the whole sample is fixed per (image, copy) and
  the store keeps it at the input size (``pixels/train``).

The evaluation and fixed-augmentation stores are :class:`~aigenbench.training.row_store.RowStore`
folders (``pixels.npy`` + checksums + marks + header) under ``runs/<id>/pixels/``: preallocated,
crash safe, checked before they are trusted; the ragged store has the same guarantees with an
append-only ``pixels.bin``. They are filled by the process that trains (rank 0 under DDP; the
others wait, then read) when the loaders are created, through the window's own image datasets
(same pipelines, same workers), stopping at the next batch on a signal (what is filled is kept;
the rerun fills the rest); batches then come from the store through the same samplers, with the
same DataLoader settings, so the model sees the same tensors in the same order and draws the same
random numbers: results are bit-identical with and without the cache. Turn it on with
``data.pixel_cache: true``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from aigenbench.config import result_affecting
from aigenbench.data import ops
from aigenbench.data.batch import collate_evaluation, collate_training
from aigenbench.data.decode import UnreadableImage
from aigenbench.data.loading import read_image
from aigenbench.data.pipelines import BaselineTrainAugmentation, TrainPipeline
from aigenbench.data.sampler import ShardSampler
from aigenbench.scoring import crop_image_index, image_runs
from aigenbench.training.cached_data import CachedWindowData
from aigenbench.training.row_store import (
    VARIABLE,
    RaggedRowStore,
    RowStore,
    as_int64,
    check_free_space,
    needed_bytes,
    ragged_needed_bytes,
)

if TYPE_CHECKING:
    from aigenbench.config import Config
    from aigenbench.data.datamodule import WindowDataModule
    from aigenbench.protocol import BenchmarkPlan
    from aigenbench.training.preemption import SignalFlag

FORMAT = 1
"""Bumped when cached pixels of the same settings would change, or the files' layout."""
TABLE = "pixels.npy"
RAGGED_TABLE = "pixels.bin"
OFF = "--data.pixel_cache false"
TRAIN_PART = "train"
DETERMINISTIC_PART = "train_deterministic"
"""The store of the training copies' deterministic parts (the default, per-epoch augmentation)."""
WRITE_EVERY = 16
"""Batches between two writes of computed pixels (what a kill can lose)."""


class PixelStore(RowStore):
    """``uint8`` ``[3, size, size]`` rows of known images: ``copies`` items per image ID, each
    of at most ``crops`` rows (the row store's files and guarantees)."""

    def __init__(
        self,
        root: str | Path,
        *,
        ids: Any,
        size: int,
        fingerprint: dict[str, Any],
        copies: int = 1,
        crops: int = 1,
        writable: bool = True,
        say: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(
            root,
            ids=ids,
            row_shape=(3, size, size),
            dtype="uint8",
            fingerprint=fingerprint,
            layout=FORMAT,
            copies=copies,
            crops=crops,
            writable=writable,
            say=say,
            what="pixel cache",
            off=OFF,
            table=TABLE,
        )


class DeterministicPartStore(RaggedRowStore):
    """``uint8`` ``[H, W, 3]`` images of any size, one per (image ID, copy): the deterministic
    part of each training copy (the ragged row store's files and guarantees)."""

    def __init__(
        self,
        root: str | Path,
        *,
        ids: Any,
        fingerprint: dict[str, Any],
        copies: int = 1,
        writable: bool = True,
        say: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(
            root,
            ids=ids,
            row_shape=(VARIABLE, VARIABLE, 3),
            dtype="uint8",
            fingerprint=fingerprint,
            layout=FORMAT,
            copies=copies,
            writable=writable,
            say=say,
            what="pixel cache",
            off=OFF,
            table=RAGGED_TABLE,
        )


def pixel_fingerprint(raw_config: dict[str, Any], part: str) -> dict[str, Any]:
    """What cached pixels depend on: every result-affecting data setting (pipelines, seeds,
    degradations, sizes) and the model's pixel settings (input size, crops, method)."""
    settings = {
        key: value
        for key, value in result_affecting(raw_config).items()
        if key.startswith(("data.", "model.input_size", "model.train_crop", "model.eval_crop"))
        or key.startswith("model.method")  # a method's own pixel augmentations
    }
    return {"format": FORMAT, "part": part, "settings": settings}


# ------------------------------------------------------------------------------ what is cached


def evaluation_crops(pipeline: Any) -> int | None:
    """Crops per evaluation image that the cache can hold (None: not cacheable: a method's own
    crop maker, an ``as_is`` crop of unknown size, or a user pipeline)."""
    crops = getattr(pipeline, "max_crops", None)
    if crops is None or getattr(pipeline, "crop", None) == "as_is":
        return None
    return int(crops)


def training_cacheable(pipeline: Any) -> bool:
    """A training sample is fixed per (image, copy) and of the input size: cacheable."""
    return getattr(pipeline, "stochastic", True) is False and getattr(pipeline, "crop", "") in (
        "resize",
        "random_crop",
        "center_crop",
    )


def deterministic_part_cacheable(pipeline: Any) -> bool:
    """A training pipeline that is the project's deterministic part then stochastic part (a
    subclass that changes how a sample is made, or a user pipeline, is not cached)."""
    return (
        isinstance(pipeline, TrainPipeline)
        and type(pipeline).__call__ is TrainPipeline.__call__
        and bool(pipeline.stochastic)
    )


def deterministic_part_bound(config: Config) -> int:
    """The most bytes one copy's deterministic part can take: crop-if-large keeps at most
    ``maximum_processing_size`` per side (without it: the most pixels an image may have), the
    baselines' resized crop makes 256 x 256."""
    data = config.data
    crop = BaselineTrainAugmentation().resized_crop_size
    if data.maximum_processing_size is None:
        return max(data.max_image_pixels, crop * crop) * 3
    side = max(data.maximum_processing_size, crop)
    return side * side * 3


def planned_bytes(config: Config, plan: BenchmarkPlan) -> dict[str, int]:
    """The disk each store of the experiment takes (from the config: a method's own crops, known
    only once its module is built, make the evaluation store unused, never larger)."""
    model, data = config.model, config.data
    size = model.input_size
    row = (3, size, size)
    sizes: dict[str, int] = {}
    if model.eval_crop != "as_is":
        crops = 5 if model.eval_crop == "multicrop" else 1
        n_eval = len(plan.evaluation("validate").ids)
        sizes["validate"] = needed_bytes(n_eval * crops, row, "uint8", n_eval)
    n_train = len(training_ids(plan)) * data.augmentation_factor
    if not data.stochastic_augmentation and model.train_crop != "as_is":
        sizes[TRAIN_PART] = needed_bytes(n_train, row, "uint8", n_train)
    elif data.stochastic_augmentation and data.train_pipeline is None:
        # An upper bound: the sizes are known only once computed (the store grows as it fills).
        sizes[DETERMINISTIC_PART] = ragged_needed_bytes(
            n_train * deterministic_part_bound(config), n_train, 3
        )
    return sizes


def header_bound(config: Config, plan: BenchmarkPlan) -> int:
    """A tighter bound of the deterministic parts' store, from every training image's header
    (its size, without decoding): crop-if-large keeps ``min(side, maximum_processing_size)`` per
    side, the baselines' resized crop makes 256 x 256; an unreadable image stores nothing.
    Reads every training file once, so it is computed only when the quick bound does not fit."""
    from aigenbench.data.decode import upright_size
    from aigenbench.data.sources import open_source

    data = config.data
    source = open_source(data)
    crop = BaselineTrainAugmentation().resized_crop_size
    limit = data.maximum_processing_size
    total = 0
    ids = training_ids(plan)
    for row_id in ids.tolist():
        try:
            height, width = upright_size(source.read("train", row_id), data.max_image_pixels)
        except UnreadableImage:
            continue
        if limit is not None:
            height, width = min(height, limit), min(width, limit)
        total += max(height * width, crop * crop) * 3
    n_train = len(ids) * data.augmentation_factor
    return ragged_needed_bytes(total * data.augmentation_factor, n_train, 3)


def _present_bytes(part_root: Path) -> int:
    """The disk a store already takes (what a rerun need not allocate again)."""
    return sum(
        (part_root / name).stat().st_size
        for name in (TABLE, RAGGED_TABLE)
        if (part_root / name).is_file()
    )


def announce(config: Config, plan: BenchmarkPlan, root: Path, say: Callable[[str], None]) -> None:
    """Say what the pixel cache needs before anything starts; refuse when the disk lacks it."""
    sizes = planned_bytes(config, plan)
    if not sizes:
        say("pixel cache: nothing to cache with these settings (evaluation crop as_is)")
        return
    present = sum(_present_bytes(root / part) for part in sizes)
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if DETERMINISTIC_PART in sizes and sum(sizes.values()) - present > free:
        say("pixel cache: reading the training images' headers for a closer bound of its size")
        sizes[DETERMINISTIC_PART] = header_bound(config, plan)
    total = sum(sizes.values())
    parts = ", ".join(
        f"{part} {'at most ' if part == DETERMINISTIC_PART else ''}{value / 2**30:.2f} GiB"
        for part, value in sizes.items()
    )
    bound = "at most " if DETERMINISTIC_PART in sizes else ""
    say(
        f"pixel cache: {bound}{total / 2**30:.2f} GiB under {root} ({parts}); "
        f"{max(total - present, 0) / 2**30:.2f} GiB still to allocate, {free / 2**30:.2f} GiB free"
    )
    check_free_space(root, total - present, "pixel cache", OFF)


def training_ids(plan: BenchmarkPlan) -> np.ndarray:
    """Every training row of the experiment (all windows): the rows of the training store."""
    windows = range(plan.n_windows)
    return np.unique(np.concatenate([np.asarray(plan.training_ids(w), np.int64) for w in windows]))


# ------------------------------------------------------------------------------------ filling


def _collate_requested(samples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """A training batch plus the ID each sample was asked for (an unreadable image's sample is
    another row: it is not stored under the asked ID)."""
    batch = collate_training(samples)
    batch["requested"] = torch.tensor([int(s["requested"]) for s in samples], dtype=torch.int64)
    return batch


class _Requested(Dataset):
    """``dataset``'s samples ``indices``, each with the ID it was asked for."""

    def __init__(self, dataset: Any, indices: np.ndarray) -> None:
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> dict[str, Any]:
        index = int(self.indices[position])
        sample = self.dataset.sample(index)
        sample["requested"] = int(self.dataset.ids[index // self.dataset.augmentation_factor])
        return sample


class _DeterministicParts(Dataset):
    """The deterministic part of ``dataset``'s samples ``indices`` (sample = row x copies +
    copy), as the dataset's pipeline makes it, with its store item (``items[index]``); None for
    an unreadable image (its sample is then made from images, with the dataset's replacement,
    whenever it is drawn)."""

    def __init__(self, dataset: Any, indices: np.ndarray, items: np.ndarray) -> None:
        self.dataset, self.indices, self.items = dataset, indices, items

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[int, np.ndarray | None]:
        data = self.dataset
        index = int(self.indices[position])
        row, copy = divmod(index, data.augmentation_factor)
        row_id = int(data.ids[row])
        try:
            image = read_image(data.source, data.split, row_id, data.pipeline, data.max_pixels)
            return int(self.items[index]), data.pipeline.deterministic_part(image, row_id, copy)
        except UnreadableImage:
            return int(self.items[index]), None


def _as_list(samples: list[Any]) -> list[Any]:
    return samples


def _fill_parts(
    store: DeterministicPartStore,
    loader: DataLoader,
    stop: Callable[[], bool],
) -> tuple[int, bool]:
    """Append the (item, deterministic part) pairs ``loader`` yields to ``store``; how many
    were written, and whether ``stop`` ended it early."""
    pending: list[tuple[int, np.ndarray | None]] = []
    written = 0

    def flush() -> None:
        nonlocal written
        if pending:
            store.write_items([item for item, _ in pending], [part for _, part in pending])
            written += len(pending)
            pending.clear()

    for batch_index, batch in enumerate(loader):
        pending.extend(batch)
        if (batch_index + 1) % WRITE_EVERY == 0:
            flush()
        if stop():  # per batch: a signal keeps what is computed, the rerun does the rest
            flush()
            return written, True
    flush()
    return written, False


def _fill(
    store: RowStore, loader: DataLoader, training: bool, stop: Callable[[], bool]
) -> tuple[int, bool]:
    """Write what ``loader`` yields into ``store``; how many items were written, and whether
    ``stop`` ended it early."""
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    written = 0

    def flush() -> None:
        nonlocal written
        if pending:
            parts = zip(*pending, strict=True)
            items, counts, rows, valid = (np.concatenate(part) for part in parts)
            store.write(items, counts, rows, valid)
            written += len(items)
            pending.clear()

    for index, batch in enumerate(loader):
        ids = batch["id"].numpy()
        if training:
            kept = ids == batch["requested"].numpy()  # a replaced row stays computed per batch
            items = store.items(ids[kept], batch["copy"].numpy()[kept])
            counts, valid = np.ones(len(items), np.int64), np.ones(len(items), bool)
            rows = batch["image"].numpy()[kept]
        else:
            first, counts = image_runs(batch["crop_to_image"].numpy())
            items = store.items(ids[first])
            valid = batch["valid"].numpy()[first]
            rows = batch["image"].numpy()
        pending.append((items, counts, rows, valid))
        if (index + 1) % WRITE_EVERY == 0:
            flush()
        if stop():  # per batch: a signal keeps what is computed, the rerun does the rest
            flush()
            return written, True
    flush()
    return written, False


class PixelCache:
    """The pixel stores of an experiment and how to fill them (one per window job). ``flag``:
    the run's signal flag (a fill stops at the next batch when it is raised)."""

    def __init__(
        self,
        root: Path,
        raw_config: dict[str, Any],
        plan: BenchmarkPlan,
        say: Callable[[str], None] | None = None,
        flag: SignalFlag | None = None,
    ) -> None:
        self.root = root
        self.raw_config = raw_config
        self.plan = plan
        self.say = say or (lambda text: None)
        self.flag = flag
        self.computed: dict[str, int] = {}
        """Items computed (decoded) by this process, per store."""

    def _stop_requested(self) -> bool:
        return self.flag is not None and self.flag.received is not None

    def _open(
        self, part: str, ids: np.ndarray, size: int, copies: int, crops: int, writable: bool
    ) -> RowStore:
        if part == DETERMINISTIC_PART:
            return DeterministicPartStore(
                self.root / part,
                ids=ids,
                copies=copies,
                fingerprint=pixel_fingerprint(self.raw_config, part),
                writable=writable,
                say=self.say,
            )
        return PixelStore(
            self.root / part,
            ids=ids,
            size=size,
            copies=copies,
            crops=crops,
            fingerprint=pixel_fingerprint(self.raw_config, part),
            writable=writable,
            say=self.say,
        )

    def _filled_store(
        self,
        trainer: L.Trainer,
        part: str,
        store_ids: np.ndarray,
        size: int,
        copies: int,
        crops: int,
        todo: Callable[[Any], tuple[Dataset, Callable[..., Any]] | None],
        loader_options: dict[str, Any],
        batch_size: int,
    ) -> Any:
        """Rank 0 opens (creates, checks) the store and computes what it lacks; the others wait
        and open it to read. A signal stops the fill at the next batch (every rank then stops
        with the run's interruption: what is written is kept)."""
        zero = trainer.is_global_zero
        if zero:
            store = self._open(part, store_ids, size, copies, crops, True)
            work = todo(store)
            if work is not None:
                dataset, collate = work
                loader = DataLoader(
                    dataset,
                    batch_size=batch_size,
                    shuffle=False,
                    collate_fn=collate,
                    **loader_options,
                )
                # The loader draws from torch's generator: leave the window's draws alone, so a
                # run with the cache draws exactly what one without draws.
                with torch.random.fork_rng(devices=[]):
                    if isinstance(store, DeterministicPartStore):
                        written, _ = _fill_parts(store, loader, self._stop_requested)
                    else:
                        written, _ = _fill(store, loader, part == TRAIN_PART, self._stop_requested)
                self.computed[part] = self.computed.get(part, 0) + written
        trainer.strategy.barrier("pixel cache")
        if self.flag is not None and self.flag.any_rank_received():
            raise self.flag.interrupted(f"while filling the pixel cache ({part})")
        if not zero:
            store = self._open(part, store_ids, size, copies, crops, False)
        return store

    def evaluation_store(
        self, data: WindowDataModule, stage: str, trainer: L.Trainer
    ) -> PixelStore | None:
        """The store of ``stage``'s evaluation crops, complete (None: not cacheable)."""
        crops = evaluation_crops(data.eval_pipeline)
        if crops is None:
            return None
        dataset = data.eval_dataset(stage)
        ids = np.asarray(dataset.ids, dtype=np.int64)

        def todo(store: PixelStore) -> tuple[Dataset, Callable[..., Any]] | None:
            items = store.items(ids)
            store.verify(items)
            missing = np.flatnonzero(~store.filled(items))
            return (Subset(dataset, missing.tolist()), collate_evaluation) if len(missing) else None

        return self._filled_store(
            trainer,
            stage,
            ids,
            data.input_size,
            1,
            crops,
            todo,
            data._loader_options(),
            data.config.eval_batch_size,
        )

    def training_store(
        self, data: WindowDataModule, trainer: L.Trainer
    ) -> PixelStore | DeterministicPartStore | None:
        """The store of the training samples (every window's rows x copies), filled for this
        window's samples: whole samples when fixed per (image, copy), else their deterministic
        parts (None: a pipeline that is neither, or rows outside the plan's)."""
        dataset = data.train_dataset
        every = training_ids(self.plan)
        if not np.isin(dataset.ids, every).all():
            return None
        factor = dataset.augmentation_factor
        if deterministic_part_cacheable(data.train_pipeline):
            return self._deterministic_store(data, trainer, every)
        if not training_cacheable(data.train_pipeline):
            return None

        def todo(store: PixelStore) -> tuple[Dataset, Callable[..., Any]] | None:
            items = store.items(
                np.repeat(dataset.ids, factor), np.tile(np.arange(factor), len(dataset.ids))
            )
            store.verify(items)
            missing = np.flatnonzero(~store.filled(items))
            return (_Requested(dataset, missing), _collate_requested) if len(missing) else None

        return self._filled_store(
            trainer,
            TRAIN_PART,
            every,
            data.input_size,
            factor,
            1,
            todo,
            data._loader_options(),
            data.config.eval_batch_size,
        )

    def _deterministic_store(
        self, data: WindowDataModule, trainer: L.Trainer, every: np.ndarray
    ) -> DeterministicPartStore:
        dataset = data.train_dataset
        factor = dataset.augmentation_factor

        def todo(store: DeterministicPartStore) -> tuple[Dataset, Callable[..., Any]] | None:
            items = store.items(
                np.repeat(dataset.ids, factor), np.tile(np.arange(factor), len(dataset.ids))
            )
            store.verify(items)
            missing = np.flatnonzero(~store.filled(items))
            if not len(missing):
                return None
            return _DeterministicParts(dataset, missing, items), _as_list

        store: DeterministicPartStore = self._filled_store(
            trainer,
            DETERMINISTIC_PART,
            every,
            0,
            factor,
            1,
            todo,
            data._loader_options(),
            data.config.eval_batch_size,
        )
        return store


# ------------------------------------------------------------------------------------ serving


def _passthrough(batch: Any) -> Any:
    return batch


class PixelEvaluationSet(Dataset):
    """Evaluation batches read from a pixel store, equal to ``dataset``'s collated batches."""

    def __init__(self, store: PixelStore, dataset: Any) -> None:
        self.store, self.dataset = store, dataset
        self.items = store.items(dataset.ids)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        positions = np.asarray(indices, dtype=np.int64)
        items = self.items[positions]
        if not self.store.filled(items).all():  # not computed (never after a fill): from images
            return collate_evaluation([self.dataset[int(i)] for i in positions])
        rows, counts, valid = self.store.read_rows(items)
        image = crop_image_index(counts)
        return {
            "image": torch.from_numpy(rows),
            "label": torch.from_numpy(self.dataset.labels[positions][image]),
            "generator_id": torch.from_numpy(self.dataset.generator_ids[positions][image]),
            "id": torch.from_numpy(self.dataset.ids[positions][image]),
            "crop_to_image": torch.from_numpy(image),
            "valid": torch.from_numpy(np.repeat(valid, counts)),
        }


class _StoredTrainingSet(Dataset):
    """Training batches equal to ``dataset``'s collated samples, read from ``store`` (one item
    per (image, copy)); keys are the ``(index, epoch)`` pairs of the window's sampler. A sample
    the store lacks (or an unreadable image's replacement) is computed from its image. A
    subclass reads the stored items and turns one into the sample's pixels."""

    def __init__(self, store: Any, dataset: Any) -> None:
        self.store, self.dataset = store, dataset
        factor = dataset.augmentation_factor
        self.items = store.items(
            np.repeat(dataset.ids, factor), np.tile(np.arange(factor), len(dataset.ids))
        )

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Any) -> dict[str, torch.Tensor]:
        return self.__getitems__([key])

    def _read(self, items: np.ndarray) -> Iterator[Any]:
        raise NotImplementedError

    def _image(self, stored: Any, row_id: int, copy: int, epoch: int) -> torch.Tensor:
        raise NotImplementedError

    def __getitems__(self, keys: Sequence[Any]) -> dict[str, torch.Tensor]:
        pairs = [key if isinstance(key, tuple) else (key, 0) for key in keys]
        items = self.items[as_int64([index for index, _ in pairs])]
        stored = self.store.filled(items)
        found = self._read(items[stored]) if stored.any() else iter(())
        data = self.dataset
        factor = data.augmentation_factor
        samples: list[dict[str, Any]] = []
        for (index, epoch), here in zip(pairs, stored.tolist(), strict=True):
            entry = next(found) if here else None
            if entry is None:
                samples.append(data.sample(int(index), int(epoch)))
                continue
            position, copy = divmod(int(index), factor)
            row_id = int(data.ids[position])
            samples.append(
                {
                    "image": self._image(entry, row_id, copy, int(epoch)),
                    "label": int(data.labels[position]),
                    "generator_id": int(data.generator_ids[position]),
                    "id": row_id,
                    "copy": copy,
                }
            )
        return collate_training(samples)


class PixelTrainingSet(_StoredTrainingSet):
    """Whole training samples (fixed augmentation: at the input size) read from a pixel store."""

    def _read(self, items: np.ndarray) -> Iterator[Any]:
        return iter(self.store.read_rows(items)[0])

    def _image(self, stored: Any, row_id: int, copy: int, epoch: int) -> torch.Tensor:
        return torch.from_numpy(stored)


class PixelTrainingParts(_StoredTrainingSet):
    """The stored deterministic part of each (image, copy), made into the sample by the
    pipeline's stochastic part (redrawn per window and epoch, as from images). A part stored as
    None (its image was unreadable) is the dataset's replacement, made from images."""

    def _read(self, items: np.ndarray) -> Iterator[Any]:
        return iter(self.store.read_items(items)[0])

    def _image(self, stored: Any, row_id: int, copy: int, epoch: int) -> torch.Tensor:
        data = self.dataset
        return ops.to_tensor(
            data.pipeline.stochastic_part(stored, row_id, copy, data.window, epoch)
        )


class PixelDataModule(CachedWindowData):
    """``data`` (a WindowDataModule) with its pixels read from the pixel cache: filled, when the
    loaders are created, with what the stores lack. Same samplers, same loader settings, same
    resume bookkeeping as ``data``; what is not cacheable is loaded from images as before."""

    def __init__(self, data: WindowDataModule, cache: PixelCache) -> None:
        super().__init__(data)
        self.cache = cache

    def train_dataloader(self) -> DataLoader:
        assert self.trainer is not None  # Lightning asks for loaders once attached
        store = self.cache.training_store(self.data, self.trainer)
        if store is None:
            return self.data.train_dataloader()
        dataset: Dataset = (
            PixelTrainingParts(store, self.data.train_dataset)
            if isinstance(store, DeterministicPartStore)
            else PixelTrainingSet(store, self.data.train_dataset)
        )
        return DataLoader(
            dataset,
            batch_size=self.data.config.train_batch_size,
            sampler=self.data.train_sampler,
            collate_fn=_passthrough,
            **self.data._loader_options(),
        )

    def _eval_loader(self, stage: str) -> DataLoader:
        assert self.trainer is not None
        store = self.cache.evaluation_store(self.data, stage, self.trainer)
        if store is None:
            return self.data._eval_dataloader(stage)
        dataset = PixelEvaluationSet(store, self.data.eval_dataset(stage))
        return DataLoader(
            dataset,
            batch_size=self.data.config.eval_batch_size,
            sampler=ShardSampler(len(dataset)),
            collate_fn=_passthrough,
            **self.data._loader_options(),
        )
