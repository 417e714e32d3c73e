"""Decode once per experiment: model-ready pixels kept on disk and shared by every window.

Evaluation images are decoded, cropped-if-large, degraded and cropped identically in every
window (seeded by image ID), so their crops (``uint8`` at the model's input size) are computed
once per experiment and read back by every window: the cumulative protocol decodes each
evaluation image once instead of nine times. Training samples are cached per (image ID,
augmentation copy) when the whole training pipeline is fixed per (image, copy)
(``data.stochastic_augmentation: false``); with per-epoch rot90/flip/crop they are decoded as
before (see docs/DESIGN.md "Experiment directory" for why).

The stores are :class:`~aigenbench.training.row_store.RowStore` folders (``pixels.npy`` +
checksums + marks + header) under ``runs/<id>/pixels/{train,validate,test}``: preallocated, crash
safe, checked before they are trusted. They are filled by the process that trains (rank 0 under
DDP; the others wait, then read) when the loaders are created, through the window's own image
datasets (same pipelines, same workers); batches then come from the store through the same
samplers, with the same DataLoader settings, so the model sees the same tensors in the same order
and draws the same random numbers: results are bit-identical with and without the cache.
Turn it on with ``data.pixel_cache: true``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from aigenbench.config import result_affecting
from aigenbench.data.batch import collate_evaluation, collate_training
from aigenbench.data.sampler import ShardSampler
from aigenbench.scoring import crop_image_index, image_runs
from aigenbench.training.cached_data import CachedWindowData
from aigenbench.training.preemption import active_flag
from aigenbench.training.row_store import RowStore, as_int64, check_free_space, needed_bytes

if TYPE_CHECKING:
    from aigenbench.config import Config
    from aigenbench.data.datamodule import WindowDataModule
    from aigenbench.protocol import BenchmarkPlan

FORMAT = 1
"""Bumped when cached pixels of the same settings would change, or the files' layout."""
TABLE = "pixels.npy"
OFF = "--data.pixel_cache false"
TRAIN_PART = "train"
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
    if not data.stochastic_augmentation and model.train_crop != "as_is":
        n_train = len(training_ids(plan)) * data.augmentation_factor
        sizes[TRAIN_PART] = needed_bytes(n_train, row, "uint8", n_train)
    return sizes


def announce(config: Config, plan: BenchmarkPlan, root: Path, say: Callable[[str], None]) -> None:
    """Say what the pixel cache needs before anything starts; refuse when the disk lacks it."""
    sizes = planned_bytes(config, plan)
    if not sizes:
        say("pixel cache: nothing to cache with these settings (evaluation crop as_is)")
        return
    present = sum(
        (root / part / TABLE).stat().st_size for part in sizes if (root / part / TABLE).is_file()
    )
    total = sum(sizes.values())
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    parts = ", ".join(f"{part} {value / 2**30:.2f} GiB" for part, value in sizes.items())
    say(
        f"pixel cache: {total / 2**30:.2f} GiB under {root} ({parts}); "
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


def _fill(store: PixelStore, loader: DataLoader, training: bool) -> int:
    """Write what ``loader`` yields into ``store``; how many items were written. A stop signal
    (SIGTERM, the requeue signal) ends the fill after the batch in hand: what is computed is
    written, and the run goes on to its next safe point (a sample not stored is computed from
    its image), where it stops; the rerun fills the rest."""
    flag = active_flag()
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
        if flag is not None and flag.received is not None:
            break  # a fill can take hours: do not hold a stopping job until it ends
    flush()
    return written


class PixelCache:
    """The pixel stores of an experiment and how to fill them (one per window job)."""

    def __init__(
        self,
        root: Path,
        raw_config: dict[str, Any],
        plan: BenchmarkPlan,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.root = root
        self.raw_config = raw_config
        self.plan = plan
        self.say = say or (lambda text: None)
        self.computed: dict[str, int] = {}
        """Items computed (decoded) by this process, per store."""

    def _open(
        self, part: str, ids: np.ndarray, size: int, copies: int, crops: int, writable: bool
    ) -> PixelStore:
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
        todo: Callable[[PixelStore], tuple[Dataset, Callable[..., Any]] | None],
        loader_options: dict[str, Any],
        batch_size: int,
    ) -> PixelStore:
        """Rank 0 opens (creates, checks) the store and computes what it lacks; the others wait
        and open it to read."""
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
                    self.computed[part] = self.computed.get(part, 0) + _fill(
                        store, loader, part == TRAIN_PART
                    )
        trainer.strategy.barrier("pixel cache")
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

    def training_store(self, data: WindowDataModule, trainer: L.Trainer) -> PixelStore | None:
        """The store of the training samples (every window's rows x copies), filled for this
        window's samples (None: samples that change every epoch, or rows outside the plan's)."""
        dataset = data.train_dataset
        if not training_cacheable(data.train_pipeline):
            return None
        every = training_ids(self.plan)
        if not np.isin(dataset.ids, every).all():
            return None
        factor = dataset.augmentation_factor

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


class PixelTrainingSet(Dataset):
    """Training batches read from a pixel store, equal to ``dataset``'s collated samples; keys
    are the ``(index, epoch)`` pairs of the window's sampler. A sample the store lacks (an
    unreadable image's replacement) is computed from its image."""

    def __init__(self, store: PixelStore, dataset: Any) -> None:
        self.store, self.dataset = store, dataset
        factor = dataset.augmentation_factor
        self.items = store.items(
            np.repeat(dataset.ids, factor), np.tile(np.arange(factor), len(dataset.ids))
        )

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Any) -> dict[str, torch.Tensor]:
        return self.__getitems__([key])

    def __getitems__(self, keys: Sequence[Any]) -> dict[str, torch.Tensor]:
        pairs = [key if isinstance(key, tuple) else (key, 0) for key in keys]
        indices = as_int64([index for index, _ in pairs])
        items = self.items[indices]
        stored = self.store.filled(items)
        rows = self.store.read_rows(items[stored])[0] if stored.any() else None
        samples: list[dict[str, Any]] = []
        row = 0
        factor = self.dataset.augmentation_factor
        for (index, epoch), here in zip(pairs, stored.tolist(), strict=True):
            if not here:
                samples.append(self.dataset.sample(int(index), int(epoch)))
                continue
            assert rows is not None
            position, copy = divmod(int(index), factor)
            samples.append(
                {
                    "image": torch.from_numpy(rows[row]),
                    "label": int(self.dataset.labels[position]),
                    "generator_id": int(self.dataset.generator_ids[position]),
                    "id": int(self.dataset.ids[position]),
                    "copy": copy,
                }
            )
            row += 1
        return collate_training(samples)


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
        return DataLoader(
            PixelTrainingSet(store, self.data.train_dataset),
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
